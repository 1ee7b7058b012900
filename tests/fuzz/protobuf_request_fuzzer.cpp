// The protobuf reader (codec/protobuf_wire via codec::decode_request) against
// libprotobuf's own parser: both must accept and refuse the same bodies and
// read the same request from those they accept.
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <raccoon/codec/codec.hpp>
#include <string_view>

#include "codec/protobuf_wire.hpp"
#include "raystack/raccoon/v1beta1/raccoon.pb.h"

namespace {

namespace pb = raystack::raccoon::v1beta1;

[[noreturn]] void disagree(const char* what) {
    std::fprintf(stderr, "protobuf_wire and libprotobuf disagree: %s\n", what);
    std::abort();
}

void compare(const pb::SendEventRequest& expected, const raccoon::core::batch& got) {
    if (got.req_guid != expected.req_guid()) disagree("req_guid");
    if (got.sent_time_seconds != expected.sent_time().seconds() ||
        got.sent_time_nanos != expected.sent_time().nanos()) {
        disagree("sent_time");
    }
    if (got.events.size() != static_cast<std::size_t>(expected.events_size())) disagree("events");
    for (std::size_t i = 0; i < got.events.size(); ++i) {
        const auto& event = expected.events(static_cast<int>(i));
        if (got.events[i].type != event.type() || got.events[i].bytes != event.event_bytes()) {
            disagree("an event");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    google::protobuf::SetLogHandler(nullptr);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    pb::SendEventRequest expected;
    const bool libprotobuf_accepts = expected.ParseFromArray(data, static_cast<int>(size));
    const auto parsed = raccoon::codec::parse_send_event_request(body);
    if (parsed.has_value() != libprotobuf_accepts) disagree("whether the body is a request");
    if (parsed) {
        compare(expected, **parsed);
        if (raccoon::codec::count_events(body) != (*parsed)->events.size()) {
            disagree("count_events and the events read");
        }
    }
    // The path every transport takes, with limits low enough to be reached.
    const raccoon::codec::request_limits limits{.max_events = 8, .max_req_guid_bytes = 16};
    const auto decoded =
        raccoon::codec::decode_request(body, raccoon::codec::wire_format::protobuf, limits);
    if (decoded && (!parsed || (*decoded)->events.size() > 8 || (*decoded)->req_guid.size() > 16)) {
        disagree("decode_request took what it must refuse");
    }
    // What a transport reserved before decoding must cover what was decoded.
    if (decoded && (*decoded)->memory_bytes() >
                       raccoon::codec::decoded_memory_bound(raccoon::core::batch{}, size, limits)) {
        disagree("the decoded batch costs more than its bound");
    }
    return 0;
}
