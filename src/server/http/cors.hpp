#pragma once

#include <boost/beast/http.hpp>
#include <raccoon/config/settings.hpp>
#include <string>
#include <vector>

namespace raccoon::server::http {

// CORS as SERVER_CORS_* configures it, for the REST endpoint.
class cors_policy {
 public:
    cors_policy(const config::server_settings& settings);

    bool enabled() const noexcept { return enabled_; }

    // Whether `request` is a preflight: OPTIONS with Access-Control-Request-Method.
    static bool is_preflight(const boost::beast::http::request_header<>& request);

    // Adds the headers an actual request from an allowed origin gets.
    void decorate(const boost::beast::http::request_header<>& request,
                  boost::beast::http::response_header<>& response) const;

    // Answers a preflight: 204 with the allowed methods and headers, or 403.
    void answer_preflight(const boost::beast::http::request_header<>& request,
                          boost::beast::http::response_header<>& response) const;

 private:
    bool origin_allowed(std::string_view origin) const;

    bool enabled_;
    std::vector<std::string> origins_;
    std::vector<std::string> methods_;
    std::vector<std::string> headers_;
    bool allow_credentials_;
    int max_age_seconds_;
};

}  // namespace raccoon::server::http
