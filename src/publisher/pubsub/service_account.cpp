#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <raccoon/publisher/pubsub/service_account.hpp>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace raccoon::publisher::pubsub {
namespace {

std::string required_field(const nlohmann::json& key, const char* field) {
    const auto found = key.find(field);
    if (found == key.end() || !found->is_string() || found->get<std::string>().empty()) {
        throw std::runtime_error(std::string("the service account key has no \"") + field + "\"");
    }
    return found->get<std::string>();
}

evp_pkey_st* load_private_key(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio == nullptr) throw std::runtime_error("out of memory reading the private key");
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        throw std::runtime_error("the service account key's private_key is not an RSA key in PEM");
    }
    return key;
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string base64url(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                        reinterpret_cast<const unsigned char*>(bytes.data()),
                                        static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(written));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

service_account_key parse_service_account_key(std::string_view json) {
    const auto key = nlohmann::json::parse(json, nullptr, false);
    if (key.is_discarded() || !key.is_object()) {
        throw std::runtime_error("the service account key is not a JSON object");
    }
    if (key.value("type", "") != "service_account") {
        throw std::runtime_error(
            "the credentials are not a service account key (\"type\": \"service_account\")");
    }
    return {required_field(key, "client_email"), key.value("private_key_id", ""),
            required_field(key, "private_key")};
}

service_account_key read_service_account_key(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    try {
        return parse_service_account_key(text.str());
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

jwt_token_source::jwt_token_source(service_account_key key, std::string audience,
                                   clock_function now)
    : key_(std::move(key)),
      audience_(std::move(audience)),
      now_(std::move(now)),
      private_key_(load_private_key(key_.private_key_pem), EVP_PKEY_free) {}

jwt_token_source::~jwt_token_source() = default;

std::string jwt_token_source::token() {
    const auto now = now_();
    std::lock_guard lock(mutex_);
    if (token_.empty() || now + refresh_margin >= expires_at_) {
        token_ = make_token(now);
        expires_at_ = now + lifetime;
    }
    return token_;
}

std::string jwt_token_source::make_token(std::chrono::system_clock::time_point issued_at) const {
    nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}};
    if (!key_.private_key_id.empty()) header["kid"] = key_.private_key_id;
    const nlohmann::json claims = {{"iss", key_.client_email},
                                   {"sub", key_.client_email},
                                   {"aud", audience_},
                                   {"iat", unix_seconds(issued_at)},
                                   {"exp", unix_seconds(issued_at + lifetime)}};
    const std::string signed_part = base64url(header.dump()) + "." + base64url(claims.dump());

    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    std::size_t length = 0;
    if (!context ||
        EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, private_key_.get()) !=
            1 ||
        EVP_DigestSign(context.get(), nullptr, &length,
                       reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) != 1) {
        throw std::runtime_error("could not sign a token with the service account key");
    }
    std::string signature(length, '\0');
    if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                       reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) != 1) {
        throw std::runtime_error("could not sign a token with the service account key");
    }
    signature.resize(length);
    return signed_part + "." + base64url(signature);
}

}  // namespace raccoon::publisher::pubsub
