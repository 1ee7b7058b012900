#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <expected>
#include <memory>
#include <raccoon/codec/codec.hpp>
#include <raccoon/config/settings.hpp>
#include <raccoon/core/batch.hpp>
#include <raccoon/core/error.hpp>
#include <string>
#include <string_view>

namespace raccoon::server::http {

using request_head = boost::beast::http::request_header<boost::beast::http::fields>;

// The connection's identity from the request's headers (SERVER_WEBSOCKET_CONN_ID_HEADER,
// SERVER_WEBSOCKET_CONN_GROUP_HEADER), the group falling back to its default.
core::connection_identity identity_of(const request_head& head,
                                      const config::server_settings& settings);

// Why a POST /api/v1/events request did not become a batch: what its answer
// says and what the refusal is counted as.
struct events_refusal {
    std::string conn_group;
    // The reason label of the failure metric.
    std::string_view metric_reason;
    core::batch_result result;
    // The request's req_guid when it could be read, for the answer.
    std::string req_guid;
};

// A REST events request read up to the point it is handed to the channel.
struct events_request {
    // The answer's wire format: the request's, or JSON when its Content-Type is unknown.
    codec::wire_format format = codec::wire_format::json;
    std::expected<std::unique_ptr<core::batch>, events_refusal> batch;
};

// Reads a parsed POST /api/v1/events request, without a socket: its
// Content-Type picks the codec, the codec decodes the body within `limits`
// into `into`, and the batch carries the connection's identity.
events_request read_events_request(
    const request_head& head, std::string_view body, const config::server_settings& settings,
    const codec::request_limits& limits,
    std::unique_ptr<core::batch> into = std::make_unique<core::batch>());

}  // namespace raccoon::server::http
