// The JSON decoder (codec/json_request via codec::decode_request). What it
// accepts, written back as plain JSON, must read back the same.
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <raccoon/codec/base64.hpp>
#include <raccoon/codec/codec.hpp>
#include <string_view>

namespace {

using raccoon::core::batch;

[[noreturn]] void differ(const char* what) {
    std::fprintf(stderr, "a decoded request read back differently: %s\n", what);
    std::abort();
}

std::string plain_json(const batch& b) {
    nlohmann::json events = nlohmann::json::array();
    for (const auto& e : b.events) {
        events.push_back(
            {{"type", e.type}, {"event_bytes", raccoon::codec::base64_encode(e.bytes)}});
    }
    const nlohmann::json request{
        {"req_guid", b.req_guid},
        {"sent_time", {{"seconds", b.sent_time_seconds}, {"nanos", b.sent_time_nanos}}},
        {"events", std::move(events)}};
    return request.dump();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const raccoon::codec::request_limits limits{.max_events = 8, .max_req_guid_bytes = 64};
    const auto decoded =
        raccoon::codec::decode_request(body, raccoon::codec::wire_format::json, limits);
    if (!decoded) {
        if (decoded.error().reason.empty()) differ("a refusal without a reason");
        return 0;
    }
    const batch& first = **decoded;
    // What a transport reserved before decoding must cover what was decoded.
    if (first.memory_bytes() > raccoon::codec::decoded_memory_bound(batch{}, size, limits)) {
        differ("the decoded batch costs more than its bound");
    }
    std::string again;
    try {
        again = plain_json(first);
    } catch (const nlohmann::json::type_error&) {
        // A string that is not UTF-8 has no JSON form: upstream's decoder takes
        // such strings too, so only the first reading is checked.
        return 0;
    }
    const auto second = raccoon::codec::decode_request(again, raccoon::codec::wire_format::json);
    if (!second) differ("refused");
    const batch& b = **second;
    if (b.req_guid != first.req_guid) differ("req_guid");
    if (b.sent_time_seconds != first.sent_time_seconds ||
        b.sent_time_nanos != first.sent_time_nanos)
        differ("sent_time");
    if (b.events.size() != first.events.size()) differ("events");
    for (std::size_t i = 0; i < b.events.size(); ++i) {
        if (b.events[i].type != first.events[i].type || b.events[i].bytes != first.events[i].bytes)
            differ("an event");
    }
    return 0;
}
