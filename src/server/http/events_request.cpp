#include "events_request.hpp"

namespace raccoon::server::http {

namespace beast_http = boost::beast::http;

core::connection_identity identity_of(const request_head& head,
                                      const config::server_settings& settings) {
    core::connection_identity identity{std::string(head[settings.conn_id_header]), {}};
    if (!settings.conn_group_header.empty()) {
        identity.group = std::string(head[settings.conn_group_header]);
    }
    if (identity.group.empty()) identity.group = settings.conn_group_default;
    return identity;
}

events_request read_events_request(const request_head& head, std::string_view body,
                                   const config::server_settings& settings,
                                   const codec::request_limits& limits,
                                   std::unique_ptr<core::batch> into) {
    const auto content_type = head[beast_http::field::content_type];
    const auto format = codec::format_from_content_type(content_type);
    if (!format) {
        // As upstream: the group of a request with an unknown content type is "NA".
        return {codec::wire_format::json,
                std::unexpected(
                    events_refusal{"NA",
                                   "unknowncontentype",
                                   {core::make_error_code(core::errc::unsupported_media_type),
                                    "Content-Type \"" + std::string(content_type) +
                                        "\" is neither application/proto nor application/json"},
                                   ""})};
    }
    auto decoded = codec::decode_request(body, *format, limits, std::move(into));
    if (!decoded) {
        return {*format,
                std::unexpected(events_refusal{identity_of(head, settings).group,
                                               "serde",
                                               {core::make_error_code(core::errc::bad_request),
                                                std::move(decoded.error().reason)},
                                               std::move(decoded.error().req_guid)})};
    }
    (*decoded)->identity = identity_of(head, settings);
    return {*format, std::move(*decoded)};
}

}  // namespace raccoon::server::http
