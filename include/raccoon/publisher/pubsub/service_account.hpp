#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

struct evp_pkey_st;

namespace raccoon::publisher::pubsub {

// What a token is made from: the fields of a service account's JSON key that
// a self-signed JWT needs.
struct service_account_key {
    std::string client_email;
    std::string private_key_id;
    std::string private_key_pem;
};

// Reads a service account's JSON key (PUBLISHER_PUBSUB_CREDENTIALS). Throws
// std::runtime_error naming what is missing or wrong.
service_account_key parse_service_account_key(std::string_view json);
service_account_key read_service_account_key(const std::string& path);

// Google's OAuth2 access for one API without a token exchange: a JWT the
// service account signs itself (RS256) for the API's audience, which Google
// accepts as a bearer token. Each token lives `lifetime` and is made anew once
// less than `refresh_margin` of it is left. Thread-safe.
class jwt_token_source {
 public:
    using clock_function = std::function<std::chrono::system_clock::time_point()>;

    static constexpr std::chrono::seconds lifetime{3600};
    static constexpr std::chrono::seconds refresh_margin{300};

    // Throws std::runtime_error when the key's PEM holds no RSA private key.
    jwt_token_source(
        service_account_key key, std::string audience,
        clock_function now = [] { return std::chrono::system_clock::now(); });
    ~jwt_token_source();
    jwt_token_source(const jwt_token_source&) = delete;
    jwt_token_source& operator=(const jwt_token_source&) = delete;

    // The token to send now.
    std::string token();

 private:
    std::string make_token(std::chrono::system_clock::time_point issued_at) const;

    service_account_key key_;
    std::string audience_;
    clock_function now_;
    std::unique_ptr<evp_pkey_st, void (*)(evp_pkey_st*)> private_key_;
    std::mutex mutex_;
    std::string token_;
    std::chrono::system_clock::time_point expires_at_{};
};

// RFC 4648's URL-safe base64 without padding, as JWTs use.
std::string base64url(std::string_view bytes);

}  // namespace raccoon::publisher::pubsub
