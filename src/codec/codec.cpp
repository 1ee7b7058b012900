#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <raccoon/codec/base64.hpp>
#include <raccoon/codec/codec.hpp>
#include <raccoon/core/error.hpp>

#include "protobuf_wire.hpp"
#include "raystack/raccoon/v1beta1/raccoon.pb.h"

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

std::expected<std::unique_ptr<core::batch>, decode_error> decode_protobuf(std::string_view body) {
    auto request = parse_send_event_request(body);
    if (!request) return std::unexpected(decode_error{"body is not a protobuf SendEventRequest"});
    return std::move(*request);
}

// The value of `name` or of its alias, or nullptr when absent or null.
const json* field(const json& object, std::string_view name, std::string_view alias) {
    for (std::string_view key : {name, alias}) {
        if (key.empty()) continue;
        auto found = object.find(key);
        if (found != object.end() && !found->is_null()) return &*found;
    }
    return nullptr;
}

// Go's encoding/json and protojson both write int64 as a number or a string.
std::optional<std::int64_t> json_integer(const json& value) {
    if (value.is_number_unsigned()) {
        auto parsed = value.get<std::uint64_t>();
        if (parsed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(parsed);
    }
    if (value.is_number_integer()) return value.get<std::int64_t>();
    if (value.is_string()) {
        const auto& text = value.get_ref<const std::string&>();
        std::int64_t parsed = 0;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
        if (error == std::errc{} && end == text.data() + text.size()) return parsed;
    }
    return std::nullopt;
}

std::expected<std::unique_ptr<core::batch>, decode_error> decode_json(std::string_view body) {
    json document = json::parse(body, nullptr, false);
    if (document.is_discarded()) {
        return std::unexpected(decode_error{"body is not valid JSON"});
    }
    if (!document.is_object()) {
        return std::unexpected(decode_error{"body is not a JSON object"});
    }
    auto b = std::make_unique<core::batch>();
    auto fail = [&b](std::string reason) {
        return std::unexpected(decode_error{std::move(reason), b->req_guid});
    };
    if (const json* guid = field(document, "req_guid", "reqGuid")) {
        if (!guid->is_string()) return std::unexpected(decode_error{"req_guid is not a string"});
        b->req_guid = guid->get<std::string>();
    }
    if (const json* sent = field(document, "sent_time", "sentTime")) {
        if (!sent->is_object()) {
            return fail("sent_time is not an object of seconds and nanos");
        }
        if (const json* seconds = field(*sent, "seconds", "")) {
            auto value = json_integer(*seconds);
            if (!value) return fail("sent_time.seconds is not an integer");
            b->sent_time_seconds = *value;
        }
        if (const json* nanos = field(*sent, "nanos", "")) {
            auto value = json_integer(*nanos);
            if (!value || *value < 0 || *value > 999'999'999) {
                return fail("sent_time.nanos is not 0 to 999999999");
            }
            b->sent_time_nanos = static_cast<std::int32_t>(*value);
        }
    }
    if (const json* events = field(document, "events", "")) {
        if (!events->is_array()) return fail("events is not an array");
        b->events.reserve(events->size());
        for (const json& e : *events) {
            if (!e.is_object()) {
                return fail("an event is not a JSON object");
            }
            core::event decoded;
            if (const json* type = field(e, "type", "")) {
                if (!type->is_string()) {
                    return fail("an event's type is not a string");
                }
                decoded.type = type->get<std::string>();
            }
            if (const json* bytes = field(e, "event_bytes", "eventBytes")) {
                if (!bytes->is_string()) {
                    return fail("an event's event_bytes is not a string");
                }
                auto raw = base64_decode(bytes->get_ref<const std::string&>());
                if (!raw) {
                    return fail("an event's event_bytes is not base64");
                }
                decoded.bytes = std::move(*raw);
            }
            b->events.push_back(std::move(decoded));
        }
    }
    return b;
}

}  // namespace

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

namespace {

std::expected<std::unique_ptr<core::batch>, decode_error> refuse_empty(
    std::expected<std::unique_ptr<core::batch>, decode_error> decoded) {
    if (decoded && (*decoded)->events.empty()) {
        return std::unexpected(decode_error{"request has no events", (*decoded)->req_guid});
    }
    return decoded;
}

}  // namespace

std::expected<std::unique_ptr<core::batch>, decode_error> decode_request(std::string_view body,
                                                                         wire_format format) {
    return refuse_empty(format == wire_format::protobuf ? decode_protobuf(body)
                                                        : decode_json(body));
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
        }
    }
    return {500, grpc_internal, response_code::internal_error};
}

}  // namespace raccoon::codec
