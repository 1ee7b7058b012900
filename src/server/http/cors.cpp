#include "cors.hpp"

#include <algorithm>
#include <boost/algorithm/string/predicate.hpp>

namespace raccoon::server::http {
namespace beast_http = boost::beast::http;

namespace {

std::string join(const std::vector<std::string>& items) {
    std::string joined;
    for (const auto& item : items) {
        if (!joined.empty()) joined += ", ";
        joined += item;
    }
    return joined;
}

bool contains_ignoring_case(const std::vector<std::string>& items, std::string_view item) {
    return std::ranges::any_of(
        items, [&](const std::string& candidate) { return boost::iequals(candidate, item); });
}

}  // namespace

cors_policy::cors_policy(const config::server_settings& settings)
    : enabled_(settings.cors.enabled),
      origins_(settings.cors.allowed_origins),
      methods_(settings.cors.allowed_methods),
      allow_credentials_(settings.cors.allow_credentials),
      max_age_seconds_(settings.cors.preflight_max_age_seconds) {
    // As upstream: Content-Type and the identity headers are always allowed.
    headers_.push_back("Content-Type");
    if (!settings.conn_group_header.empty()) headers_.push_back(settings.conn_group_header);
    if (!settings.conn_id_header.empty()) headers_.push_back(settings.conn_id_header);
    for (const auto& header : settings.cors.allowed_headers) {
        if (!contains_ignoring_case(headers_, header)) headers_.push_back(header);
    }
}

bool cors_policy::is_preflight(const beast_http::request_header<>& request) {
    return request.method() == beast_http::verb::options &&
           request.find(beast_http::field::access_control_request_method) != request.end();
}

bool cors_policy::origin_allowed(std::string_view origin) const {
    return std::ranges::any_of(origins_, [&](const std::string& allowed) {
        return allowed == "*" || boost::iequals(allowed, origin);
    });
}

void cors_policy::decorate(const beast_http::request_header<>& request,
                           beast_http::response_header<>& response) const {
    if (!enabled_) return;
    auto origin = request.find(beast_http::field::origin);
    if (origin == request.end() || !origin_allowed(origin->value())) return;
    response.set(beast_http::field::access_control_allow_origin, origin->value());
    response.set(beast_http::field::vary, "Origin");
    if (allow_credentials_) {
        response.set(beast_http::field::access_control_allow_credentials, "true");
    }
}

void cors_policy::answer_preflight(const beast_http::request_header<>& request,
                                   beast_http::response_header<>& response) const {
    response.result(beast_http::status::forbidden);
    auto origin = request.find(beast_http::field::origin);
    if (!enabled_ || origin == request.end() || !origin_allowed(origin->value())) return;
    auto method = request[beast_http::field::access_control_request_method];
    if (!contains_ignoring_case(methods_, method)) return;
    std::string_view requested = request[beast_http::field::access_control_request_headers];
    while (!requested.empty()) {
        auto comma = requested.find(',');
        std::string_view header = requested.substr(0, comma);
        requested =
            comma == std::string_view::npos ? std::string_view{} : requested.substr(comma + 1);
        while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
        while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
        if (!header.empty() && !contains_ignoring_case(headers_, header)) return;
    }
    // 200 as upstream's (rs/cors) answers; 204 would do for browsers, not
    // for checks written against upstream.
    response.result(beast_http::status::ok);
    decorate(request, response);
    response.set(beast_http::field::access_control_allow_methods, join(methods_));
    response.set(beast_http::field::access_control_allow_headers, join(headers_));
    if (max_age_seconds_ > 0) {
        response.set(beast_http::field::access_control_max_age, std::to_string(max_age_seconds_));
    }
}

}  // namespace raccoon::server::http
