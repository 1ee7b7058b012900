#include <gtest/gtest.h>

#include <raccoon/codec/base64.hpp>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace raccoon::codec {
namespace {

using namespace std::string_literals;

// RFC 4648 §10.
const std::vector<std::pair<std::string, std::string>> rfc4648_vectors = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

TEST(Base64, Rfc4648VectorsEncode) {
    for (const auto& [plain, encoded] : rfc4648_vectors) {
        EXPECT_EQ(base64_encode(plain), encoded) << plain;
    }
}

TEST(Base64, Rfc4648VectorsDecode) {
    for (const auto& [plain, encoded] : rfc4648_vectors) {
        auto decoded = base64_decode(encoded);
        ASSERT_TRUE(decoded) << encoded;
        EXPECT_EQ(*decoded, plain) << encoded;
    }
}

TEST(Base64, DecodesWithoutPadding) {
    for (const auto& [plain, encoded] : rfc4648_vectors) {
        std::string unpadded = encoded.substr(0, encoded.find('='));
        auto decoded = base64_decode(unpadded);
        ASSERT_TRUE(decoded) << unpadded;
        EXPECT_EQ(*decoded, plain) << unpadded;
    }
}

TEST(Base64, UsesTheStandardAlphabet) {
    EXPECT_EQ(base64_encode("\xfb\xff\xbf"s), "+/+/");
    EXPECT_EQ(base64_decode("+/+/"), "\xfb\xff\xbf"s);
    EXPECT_EQ(base64_encode("\x00\x00\x00"s), "AAAA");
    EXPECT_EQ(base64_encode("\x00"s), "AA==");
}

TEST(Base64, RoundTripsRandomBytesOfEveryLengthUpTo64) {
    std::mt19937 random(20240611);
    std::uniform_int_distribution<int> byte(0, 255);
    for (std::size_t length = 0; length <= 64; ++length) {
        for (int round = 0; round < 20; ++round) {
            std::string bytes(length, '\0');
            for (char& c : bytes) c = static_cast<char>(byte(random));
            const std::string encoded = base64_encode(bytes);
            ASSERT_EQ(encoded.size(), (length + 2) / 3 * 4) << length;
            auto decoded = base64_decode(encoded);
            ASSERT_TRUE(decoded) << encoded;
            ASSERT_EQ(*decoded, bytes) << encoded;
        }
    }
}

TEST(Base64, RoundTripsEveryByteValue) {
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
    auto decoded = base64_decode(base64_encode(bytes));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, bytes);
}

TEST(Base64, RejectsInvalidInput) {
    for (std::string_view text : {
             "Z",      // one character cannot hold a byte
             "Zm9vY",  // nor can five
             "Zg=",    // padding short of a whole quantum
             "Zg===",  // too much padding
             "Zm9v=",  // padding after a whole quantum
             "=",
             "==",
             "====",
             "=Zg=",      // padding first
             "Zg==Zg==",  // padding in the middle
             "Z=g=",
             "Zm9v!",  // not in the alphabet
             "Zm 9v",  // spaces are not skipped
             "Zm9v\t",
             "-_-_",  // the URL-safe alphabet is another encoding
             "Zm9v\xc3\xa9",
         }) {
        EXPECT_FALSE(base64_decode(text)) << text;
    }
    EXPECT_FALSE(base64_decode("Zm\0v"s));
}

TEST(Base64, IgnoresLineBreaksAsGoDoes) {
    // Go's encoding/json, which upstream decodes event_bytes with, skips CR and
    // LF anywhere in base64, so MIME-wrapped encoders work against it.
    EXPECT_EQ(base64_decode("Zm9v\nYmFy"), "foobar");
    EXPECT_EQ(base64_decode("Zm9v\r\nYmFy\r\n"), "foobar");
    EXPECT_EQ(base64_decode("Zg=\n="), "f");
    EXPECT_EQ(base64_decode("\n"), "");
    EXPECT_FALSE(base64_decode("Zg\n=")) << "still padding short of a quantum";
}

TEST(Base64, AcceptsNonZeroTrailingBitsAsGoDoes) {
    // Go's base64.StdEncoding is not Strict(): the unused low bits of the last
    // character are dropped, not checked.
    EXPECT_EQ(base64_decode("Zh=="), "f");
    EXPECT_EQ(base64_decode("Zm9="), "fo");
    EXPECT_EQ(base64_decode("Zh"), "f");
}

}  // namespace
}  // namespace raccoon::codec
