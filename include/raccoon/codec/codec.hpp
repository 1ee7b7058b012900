#pragma once

#include <cstdint>
#include <expected>
#include <limits>
#include <memory>
#include <optional>
#include <raccoon/core/batch.hpp>
#include <string>
#include <string_view>
#include <system_error>

namespace raccoon::codec {

// The two encodings of SendEventRequest/SendEventResponse on the wire.
enum class wire_format { protobuf, json };

// application/proto (also application/protobuf, application/x-protobuf) or
// application/json, parameters such as charset ignored; nullopt otherwise.
std::optional<wire_format> format_from_content_type(std::string_view content_type);

std::string_view content_type_of(wire_format format) noexcept;

// Why a request could not be decoded, said for the client.
struct decode_error {
    std::string reason;
    // The request's req_guid when it could be read before the error, so the
    // answer can name the request; empty otherwise.
    std::string req_guid = {};
};

// What one request may hold. A request beyond them is refused (code 2)
// before it costs more memory than its body: each event is a few dozen bytes
// of bookkeeping however small its bytes, and every ack echoes the req_guid.
struct request_limits {
    // SERVER_MAX_EVENTS_PER_REQUEST.
    std::size_t max_events = std::numeric_limits<std::size_t>::max();
    // SERVER_MAX_REQ_GUID_BYTES.
    std::size_t max_req_guid_bytes = std::numeric_limits<std::size_t>::max();
};

// Decodes a SendEventRequest into `into`; protobuf is read straight from the
// body into the batch, each event's bytes copied once. A request without
// events is a batch without events, acked as upstream acks it.
std::expected<std::unique_ptr<core::batch>, decode_error> decode_request(
    std::string_view body, wire_format format, const request_limits& limits = {},
    std::unique_ptr<core::batch> into = std::make_unique<core::batch>());

// The most `into` can cost (core::batch::memory_bytes()) once a body of
// `body_bytes` is decoded into it within `limits`, in either format: every
// event takes at least two bytes of the body, neither reader goes past the
// first event too many, and the strings come from the body. A transport takes
// it from WORKER_BUFFER_MAX_BYTES before decoding, so a request waiting for
// room holds its body and not its events.
std::size_t decoded_memory_bound(const core::batch& into, std::size_t body_bytes,
                                 const request_limits& limits) noexcept;

// Sends protobuf's own log lines to our logger at debug level: events are
// read by codec/protobuf_wire, but gRPC's reflection and health services parse
// clients' messages with libprotobuf, whose complaints (invalid UTF-8 and the
// like) must not flood stderr. Call once at start-up.
void route_protobuf_logs();

// The Code and Status values of the proto, for code that does not include it.
enum class response_code : int {
    ok = 1,
    bad_request = 2,
    internal_error = 3,
    max_connection_limit_reached = 4,
    max_user_limit_reached = 5,
};

// What a SendEventResponse says.
struct response {
    bool success = false;
    response_code code = response_code::ok;
    std::int64_t sent_time_seconds = 0;
    std::string reason;
    // Sent as data.req_guid; absent only in a connection refusal, which has no data.
    std::optional<std::string> req_guid = std::string();
};

// A response for `req_guid` that reports `result`, stamped with the time now.
response response_for(const core::batch_result& result, std::optional<std::string> req_guid);

// The answer to a request refused before it became a batch: it names the
// request's req_guid when one could be read, and has no data otherwise, as
// upstream's refusals have none.
response refusal_for(const core::batch_result& result, const std::string& req_guid);

std::string encode_response(const response& r, wire_format format);

// How one internal error is said on each wire: the single mapping every
// transport uses.
struct wire_status {
    int http_status;
    int grpc_status;
    response_code code;
};

wire_status wire_status_for(std::error_code error) noexcept;

}  // namespace raccoon::codec
