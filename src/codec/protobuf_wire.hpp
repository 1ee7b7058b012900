#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <raccoon/core/batch.hpp>
#include <string>
#include <string_view>

namespace raccoon::codec {

// Reads a SendEventRequest from protobuf's wire format straight into a batch:
// each event's bytes are copied once, from the body into the event, with no
// message objects in between. It accepts and refuses exactly what
// libprotobuf's parser does for this schema (tests/unit/codec compares the
// two on mutated messages): unknown fields and groups are skipped, a known
// field with another wire type is an unknown field, the last of a repeated
// singular field wins, repeated sent_time messages merge, and strings must be
// valid UTF-8. nullopt when the body is not such a message. The events go
// into `into`, which a transport may have made (and budgeted) beforehand.
std::optional<std::unique_ptr<core::batch>> parse_send_event_request(
    std::string_view body, std::unique_ptr<core::batch> into = std::make_unique<core::batch>());

// How many events the request holds, from one pass over its top-level tags,
// without allocating; a malformed body ends the count.
std::size_t count_events(std::string_view body);

// Writes a SendEventResponse as libprotobuf serializes it (fields in number
// order, proto3 defaults left out, the data entry with key and value), without
// building a message: an ack is one small string.
std::string write_send_event_response(int status, int code, std::int64_t sent_time,
                                      std::string_view reason,
                                      const std::optional<std::string>& req_guid);

}  // namespace raccoon::codec
