#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <raccoon/codec/base64.hpp>
#include <raccoon/codec/codec.hpp>
#include <raccoon/core/error.hpp>

#include "json_request.hpp"
#include "protobuf_wire.hpp"
#include "raystack/raccoon/v1beta1/raccoon.pb.h"
#include "request_refusals.hpp"

namespace raccoon::codec {
namespace {

namespace pb = raystack::raccoon::v1beta1;
using json = nlohmann::json;

std::string lowercase_media_type(std::string_view content_type) {
    auto end = content_type.find(';');
    std::string_view media = content_type.substr(0, end);
    while (!media.empty() && (media.front() == ' ' || media.front() == '\t'))
        media.remove_prefix(1);
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
    std::string lower(media);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
}

std::expected<std::unique_ptr<core::batch>, decode_error> decode_protobuf(
    std::string_view body, const request_limits& limits, std::unique_ptr<core::batch> into) {
    // Counted before a single event is allocated.
    if (const std::size_t count = count_events(body); count > limits.max_events) {
        return std::unexpected(decode_error{too_many_events(count, limits.max_events)});
    }
    auto request = parse_send_event_request(body, std::move(into));
    if (!request) return std::unexpected(decode_error{"body is not a protobuf SendEventRequest"});
    return std::move(*request);
}

}  // namespace

std::string too_many_events(std::optional<std::size_t> count, std::size_t max) {
    const std::string held =
        count ? std::to_string(*count) + " events, more than " : std::string("more events than ");
    return "the request holds " + held + std::to_string(max) + " (SERVER_MAX_EVENTS_PER_REQUEST)";
}

void route_protobuf_logs() {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char* file, int line, const std::string& message) {
            spdlog::debug("protobuf {}:{}: {}", file, line, message);
        });
}

std::optional<wire_format> format_from_content_type(std::string_view content_type) {
    std::string media = lowercase_media_type(content_type);
    if (media == "application/proto" || media == "application/protobuf" ||
        media == "application/x-protobuf") {
        return wire_format::protobuf;
    }
    if (media == "application/json") return wire_format::json;
    return std::nullopt;
}

std::string_view content_type_of(wire_format format) noexcept {
    return format == wire_format::protobuf ? "application/proto" : "application/json";
}

std::expected<std::unique_ptr<core::batch>, decode_error> decode_request(
    std::string_view body, wire_format format, const request_limits& limits,
    std::unique_ptr<core::batch> into) {
    auto decoded = format == wire_format::protobuf
                       ? decode_protobuf(body, limits, std::move(into))
                       : decode_json_request(body, limits.max_events, std::move(into));
    if (!decoded) return decoded;
    const core::batch& b = **decoded;
    // A refusal names no req_guid it will not echo.
    if (b.req_guid.size() > limits.max_req_guid_bytes) {
        return std::unexpected(decode_error{
            "req_guid is " + std::to_string(b.req_guid.size()) + " bytes, longer than " +
            std::to_string(limits.max_req_guid_bytes) + " (SERVER_MAX_REQ_GUID_BYTES)"});
    }
    // Both readers stop at the first event too many, before it costs
    // memory; this names the req_guid when the whole request was read.
    if (b.events.size() > limits.max_events) {
        return std::unexpected(
            decode_error{too_many_events(b.events.size(), limits.max_events), b.req_guid});
    }
    return decoded;
}

std::size_t decoded_memory_bound(const core::batch& into, std::size_t body_bytes,
                                 const request_limits& limits) noexcept {
    const std::size_t events = std::min(body_bytes / 2, limits.max_events) + 1;
    return into.memory_bytes_after_decoding(events, body_bytes);
}

response response_for(const core::batch_result& result, std::optional<std::string> req_guid) {
    response r;
    r.success = result.ok();
    r.code = wire_status_for(result.error).code;
    r.sent_time_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    if (!result.ok()) {
        r.reason = result.error.message();
        if (!result.detail.empty()) r.reason += ": " + result.detail;
    }
    r.req_guid = std::move(req_guid);
    return r;
}

response refusal_for(const core::batch_result& result, const std::string& req_guid) {
    return response_for(result, req_guid.empty() ? std::nullopt : std::optional(req_guid));
}

std::string encode_response(const response& r, wire_format format) {
    const int status = r.success ? pb::STATUS_SUCCESS : pb::STATUS_ERROR;
    if (format == wire_format::protobuf) {
        return write_send_event_response(status, static_cast<int>(r.code), r.sent_time_seconds,
                                         r.reason, r.req_guid);
    }
    nlohmann::ordered_json document;
    document["status"] = status;
    document["code"] = static_cast<int>(r.code);
    if (r.sent_time_seconds != 0) document["sent_time"] = r.sent_time_seconds;
    if (!r.reason.empty()) document["reason"] = r.reason;
    if (r.req_guid) document["data"] = nlohmann::ordered_json{{"req_guid", *r.req_guid}};
    return document.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

wire_status wire_status_for(std::error_code error) noexcept {
    // gRPC status numbers are fixed by the protocol; spelled out to keep gRPC's
    // headers out of the codec.
    constexpr int grpc_ok = 0, grpc_invalid_argument = 3, grpc_resource_exhausted = 8,
                  grpc_internal = 13, grpc_unavailable = 14;
    if (!error) return {200, grpc_ok, response_code::ok};
    if (error.category() == core::error_category()) {
        switch (static_cast<core::errc>(error.value())) {
            case core::errc::bad_request:
                return {400, grpc_invalid_argument, response_code::bad_request};
            case core::errc::unsupported_media_type:
                return {400, grpc_invalid_argument, response_code::bad_request};
            case core::errc::request_too_large:
                return {413, grpc_resource_exhausted, response_code::bad_request};
            case core::errc::publish_failed:
                return {500, grpc_internal, response_code::internal_error};
            case core::errc::shutting_down:
                return {503, grpc_unavailable, response_code::internal_error};
            // A client may retry it later, as a rate limit.
            case core::errc::too_many_new_topics:
                return {429, grpc_unavailable, response_code::internal_error};
        }
    }
    return {500, grpc_internal, response_code::internal_error};
}

}  // namespace raccoon::codec
