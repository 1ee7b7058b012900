#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "loadgen.hpp"

// The requests raccoon-loadgen sends are deterministic, so a test can rebuild
// every event it expects to find in the broker:
//
//   req_guid   = <guid-prefix>-<connection>-<request>        (both from 0)
//   event i    = "<req_guid>/<i>/" then, up to --event-size bytes, the byte
//                at offset p is p % 256 (so payloads hold NUL, high bytes and
//                invalid UTF-8); the header is never cut, so an event is
//                max(--event-size, header length) bytes long
//   type of i  = "type-" + ((request * batch_size + i) % event_types)
//   connection id (the --id-header value) = <id-prefix><connection>
namespace raccoon::loadgen {

std::string request_guid(const options& opts, std::size_t connection, std::uint64_t request);
// Replaces `bytes` with event `index` of the request, reusing its capacity.
void assign_event_bytes(std::string& bytes, std::string_view req_guid, std::size_t index,
                        std::size_t event_size);
std::string event_type(const options& opts, std::uint64_t request, std::size_t index);

// The request message (protobuf bytes or JSON text) for one request.
std::string encode_request(const options& opts, std::string_view req_guid, std::uint64_t request);

std::optional<ack> decode_ack(std::string_view message, wire_format format);

// {"req_guid":..,"status":..,"code":..,"reason":..} on one line, with "\n".
std::string ack_json_line(const ack& a);

// CODE_OK, CODE_BAD_REQUEST, ... as the proto names them.
std::string code_name(int code);

}  // namespace raccoon::loadgen
