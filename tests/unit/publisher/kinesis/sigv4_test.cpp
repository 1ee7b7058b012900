#include <gtest/gtest.h>

#include <chrono>
#include <raccoon/publisher/kinesis/sigv4.hpp>

namespace raccoon::publisher::kinesis::sigv4 {
namespace {

using namespace std::chrono;

system_clock::time_point utc(int year, unsigned month, unsigned day, int hour, int minute,
                             int second) {
    return sys_days{std::chrono::year{year} / std::chrono::month{month} / std::chrono::day{day}} +
           hours{hour} + minutes{minute} + seconds{second};
}

// The worked example of AWS's S3 documentation ("Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk", example GET
// Object), whose path needs no encoding, so it holds for every service.
TEST(Sigv4, SignsAwsDocumentedGetObjectExample) {
    request r{.method = "GET",
              .path = "/test.txt",
              .query = "",
              .headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                          {"Range", "bytes=0-9"},
                          {"x-amz-content-sha256",
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
              .payload = ""};
    const credentials c{.access_key_id = "AKIAIOSFODNN7EXAMPLE",
                        .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                        .session_token = ""};
    EXPECT_EQ(sign(r, c, "us-east-1", "s3", utc(2013, 5, 24, 0, 0, 0)),
              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
              "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
              "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// AWS's Signature Version 4 test suite, case get-vanilla-query-order-value:
// each of the three steps against the values it documents.
TEST(Sigv4, FollowsAwsTestSuiteStepByStep) {
    const request r{
        .method = "GET",
        .path = "/",
        .query = "foo=Zoo&foo=aha",
        .headers = {{"Date", "Mon, 09 Sep 2011 23:36:00 GMT"}, {"Host", "host.foo.com"}},
        .payload = ""};
    const std::string canonical = canonical_request(r, hex_sha256(""));
    EXPECT_EQ(canonical,
              "GET\n/\nfoo=Zoo&foo=aha\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\n"
              "date;host\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const std::string scope = credential_scope("20110909", "us-east-1", "host");
    const std::string to_sign = string_to_sign("20110909T233600Z", scope, canonical);
    EXPECT_EQ(to_sign,
              "AWS4-HMAC-SHA256\n20110909T233600Z\n20110909/us-east-1/host/aws4_request\n"
              "e25f777ba161a0f1baf778a87faf057187cf5987f17953320e3ca399feb5f00d");
    const std::string key =
        signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20110909", "us-east-1", "host");
    EXPECT_EQ(to_hex(hmac_sha256(key, to_sign)),
              "be7148d34ebccdc6423b19085378aa0bee970bdc61d144bd1a8c48c33079ab09");
}

TEST(Sigv4, CanonicalFormTrimsSortsAndJoinsHeaders) {
    const request r{.method = "POST",
                    .path = "/a b/c",
                    .query = "b=2&a=%7e x",
                    .headers = {{"X-Multi", " one  two "}, {"Host", "h"}, {"x-multi", "three"}},
                    .payload = "{}"};
    EXPECT_EQ(canonical_request(r, "HASH"),
              "POST\n/a%20b/c\na=~%20x&b=2\nhost:h\nx-multi:one two,three\n\nhost;x-multi\nHASH");
}

TEST(Sigv4, TemporaryCredentialsSignTheirToken) {
    request r{
        .method = "POST", .path = "/", .query = "", .headers = {{"Host", "h"}}, .payload = ""};
    const std::string authorization =
        sign(r, {"AKID", "SECRET", "TOKEN"}, "eu-west-1", "kinesis", utc(2024, 1, 2, 3, 4, 5));
    EXPECT_NE(authorization.find("Credential=AKID/20240102/eu-west-1/kinesis/aws4_request"),
              std::string::npos);
    EXPECT_NE(authorization.find("SignedHeaders=host;x-amz-date;x-amz-security-token"),
              std::string::npos);
    ASSERT_EQ(r.headers.size(), 3u);
    EXPECT_EQ(r.headers[1],
              (std::pair<std::string, std::string>{"X-Amz-Date", "20240102T030405Z"}));
    EXPECT_EQ(r.headers[2], (std::pair<std::string, std::string>{"X-Amz-Security-Token", "TOKEN"}));
}

}  // namespace
}  // namespace raccoon::publisher::kinesis::sigv4
