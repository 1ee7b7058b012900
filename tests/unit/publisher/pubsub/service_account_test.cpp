#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <raccoon/publisher/pubsub/service_account.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace raccoon::publisher::pubsub {
namespace {

using key_pointer = std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)>;

key_pointer make_rsa_key() { return {EVP_RSA_gen(2048), EVP_PKEY_free}; }

std::string private_pem(EVP_PKEY* key) {
    std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(length)};
}

std::string key_json(EVP_PKEY* key) {
    return nlohmann::json{{"type", "service_account"},
                          {"project_id", "raccoon-test"},
                          {"private_key_id", "key-id-1"},
                          {"private_key", private_pem(key)},
                          {"client_email", "raccoon@raccoon-test.iam.gserviceaccount.com"}}
        .dump();
}

std::string from_base64url(std::string text) {
    for (char& c : text) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
    }
    while (text.size() % 4 != 0) text.push_back('=');
    std::string out(text.size(), '\0');
    const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                       reinterpret_cast<const unsigned char*>(text.data()),
                                       static_cast<int>(text.size()));
    EXPECT_GE(length, 0);
    out.resize(static_cast<std::size_t>(length) - std::count(text.begin(), text.end(), '='));
    return out;
}

std::vector<std::string> split_token(const std::string& token) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t dot; (dot = token.find('.', start)) != std::string::npos; start = dot + 1) {
        parts.push_back(token.substr(start, dot - start));
    }
    parts.push_back(token.substr(start));
    return parts;
}

bool signature_verifies(const std::string& token, EVP_PKEY* public_key) {
    const auto parts = split_token(token);
    const std::string signed_part = parts[0] + "." + parts[1];
    const std::string signature = from_base64url(parts[2]);
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, public_key);
    return EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(signed_part.data()),
                            signed_part.size()) == 1;
}

// Only the public half of `key`, as a verifier holds it.
key_pointer public_half(EVP_PKEY* key) {
    std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), key);
    return {PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free};
}

constexpr auto issued = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

TEST(ServiceAccountTest, TokenIsAnRs256JwtForTheAudienceWithTheAccountsClaims) {
    const auto key = make_rsa_key();
    jwt_token_source source(parse_service_account_key(key_json(key.get())),
                            "https://pubsub.googleapis.com/", [] { return issued; });
    const std::string token = source.token();
    const auto parts = split_token(token);
    ASSERT_EQ(parts.size(), 3u);

    const auto header = nlohmann::json::parse(from_base64url(parts[0]));
    EXPECT_EQ(header["alg"], "RS256");
    EXPECT_EQ(header["typ"], "JWT");
    EXPECT_EQ(header["kid"], "key-id-1");

    const auto claims = nlohmann::json::parse(from_base64url(parts[1]));
    EXPECT_EQ(claims["iss"], "raccoon@raccoon-test.iam.gserviceaccount.com");
    EXPECT_EQ(claims["sub"], "raccoon@raccoon-test.iam.gserviceaccount.com");
    EXPECT_EQ(claims["aud"], "https://pubsub.googleapis.com/");
    EXPECT_EQ(claims["iat"], 1'800'000'000);
    EXPECT_EQ(claims["exp"], 1'800'000'000 + 3600);

    EXPECT_TRUE(signature_verifies(token, public_half(key.get()).get()));
}

TEST(ServiceAccountTest, SignatureFailsAgainstAnotherKeyOrAChangedClaim) {
    const auto key = make_rsa_key();
    const auto other = make_rsa_key();
    jwt_token_source source(parse_service_account_key(key_json(key.get())),
                            "https://pubsub.googleapis.com/", [] { return issued; });
    const std::string token = source.token();
    EXPECT_FALSE(signature_verifies(token, public_half(other.get()).get()));

    auto parts = split_token(token);
    auto claims = nlohmann::json::parse(from_base64url(parts[1]));
    claims["aud"] = "https://storage.googleapis.com/";
    const std::string forged = parts[0] + "." + base64url(claims.dump()) + "." + parts[2];
    EXPECT_FALSE(signature_verifies(forged, public_half(key.get()).get()));
}

TEST(ServiceAccountTest, TokenIsKeptUntilItNearsExpiryThenMadeAnew) {
    const auto key = make_rsa_key();
    auto now = issued;
    jwt_token_source source(parse_service_account_key(key_json(key.get())),
                            "https://pubsub.googleapis.com/", [&now] { return now; });
    const std::string first = source.token();

    now = issued + jwt_token_source::lifetime - jwt_token_source::refresh_margin -
          std::chrono::seconds(1);
    EXPECT_EQ(source.token(), first);

    now += std::chrono::seconds(1);
    const std::string second = source.token();
    EXPECT_NE(second, first);
    const auto claims = nlohmann::json::parse(from_base64url(split_token(second)[1]));
    const auto now_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    EXPECT_EQ(claims["iat"], now_seconds);
    EXPECT_EQ(claims["exp"], now_seconds + 3600);
    EXPECT_TRUE(signature_verifies(second, public_half(key.get()).get()));
}

TEST(ServiceAccountTest, KeyFileIsReadAndItsFaultsNamed) {
    const auto key = make_rsa_key();
    const auto path = std::filesystem::temp_directory_path() /
                      ("raccoon-sa-" +
                       std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".json");
    std::ofstream(path) << key_json(key.get());
    const auto read = read_service_account_key(path.string());
    EXPECT_EQ(read.client_email, "raccoon@raccoon-test.iam.gserviceaccount.com");
    EXPECT_EQ(read.private_key_id, "key-id-1");
    std::filesystem::remove(path);

    EXPECT_THROW(read_service_account_key(path.string()), std::runtime_error);
    EXPECT_THROW(parse_service_account_key("not json"), std::runtime_error);
    EXPECT_THROW(parse_service_account_key(R"({"type": "authorized_user"})"), std::runtime_error);
    try {
        parse_service_account_key(R"({"type": "service_account", "private_key": "x"})");
        FAIL() << "a key without client_email was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("client_email"), std::string::npos);
    }
    service_account_key not_rsa{"a@b", "",
                                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"};
    EXPECT_THROW(jwt_token_source(not_rsa, "https://pubsub.googleapis.com/"), std::runtime_error);
}

TEST(ServiceAccountTest, Base64urlHasNoPaddingAndUrlSafeCharacters) {
    EXPECT_EQ(base64url(""), "");
    EXPECT_EQ(base64url("f"), "Zg");
    EXPECT_EQ(base64url("fo"), "Zm8");
    EXPECT_EQ(base64url("foo"), "Zm9v");
    EXPECT_EQ(base64url("\xfb\xff\xbf"), "-_-_");
}

}  // namespace
}  // namespace raccoon::publisher::pubsub
