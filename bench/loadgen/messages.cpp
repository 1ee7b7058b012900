#include "messages.hpp"

#include <raystack/raccoon/v1beta1/raccoon.pb.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace raccoon::loadgen {

namespace pb = raystack::raccoon::v1beta1;

namespace {

void base64_append(std::string& out, std::string_view in) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                       static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
        out += alphabet[n >> 18 & 63];
        out += alphabet[n >> 12 & 63];
        out += alphabet[n >> 6 & 63];
        out += alphabet[n & 63];
    }
    if (const std::size_t rest = in.size() - i; rest > 0) {
        std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
        if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
        out += alphabet[n >> 18 & 63];
        out += alphabet[n >> 12 & 63];
        out += rest == 2 ? alphabet[n >> 6 & 63] : '=';
        out += '=';
    }
}

struct wall_time {
    std::int64_t seconds;
    std::int32_t nanos;
};

wall_time now() {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    return {ns / 1'000'000'000, static_cast<std::int32_t>(ns % 1'000'000'000)};
}

}  // namespace

std::string request_guid(const options& opts, std::size_t connection, std::uint64_t request) {
    std::string guid = opts.guid_prefix;
    guid += '-';
    guid += std::to_string(connection);
    guid += '-';
    guid += std::to_string(request);
    return guid;
}

void assign_event_bytes(std::string& bytes, std::string_view req_guid, std::size_t index,
                        std::size_t event_size) {
    bytes.assign(req_guid);
    bytes += '/';
    bytes += std::to_string(index);
    bytes += '/';
    const std::size_t header = bytes.size();
    if (event_size <= header) return;
    // Copied from the pattern made once: writing it byte by byte was the
    // load generator's costliest function.
    thread_local std::string pattern;
    for (std::size_t p = pattern.size(); p < event_size; ++p) pattern += static_cast<char>(p % 256);
    bytes.append(pattern, header, event_size - header);
}

std::string event_type(const options& opts, std::uint64_t request, std::size_t index) {
    return "type-" + std::to_string((request * opts.batch_size + index) % opts.event_types);
}

std::string encode_request(const options& opts, std::string_view req_guid, std::uint64_t request) {
    const wall_time sent = now();
    if (opts.format == wire_format::proto) {
        // One message per thread, cleared and refilled: its strings keep their
        // capacity, so a steady run allocates little.
        thread_local pb::SendEventRequest message;
        message.Clear();
        message.set_req_guid(std::string(req_guid));
        message.mutable_sent_time()->set_seconds(sent.seconds);
        message.mutable_sent_time()->set_nanos(sent.nanos);
        for (std::size_t i = 0; i < opts.batch_size; ++i) {
            pb::Event* event = message.add_events();
            assign_event_bytes(*event->mutable_event_bytes(), req_guid, i, opts.event_size);
            event->set_type(event_type(opts, request, i));
        }
        return message.SerializeAsString();
    }
    // The guid prefix, id and types are checked to need no JSON escaping.
    thread_local std::string bytes;
    std::string out;
    out.reserve(96 + opts.batch_size * (opts.event_size * 4 / 3 + 48));
    out += R"({"req_guid":")";
    out += req_guid;
    out += R"(","sent_time":{"seconds":)";
    out += std::to_string(sent.seconds);
    out += R"(,"nanos":)";
    out += std::to_string(sent.nanos);
    out += R"(},"events":[)";
    for (std::size_t i = 0; i < opts.batch_size; ++i) {
        if (i) out += ',';
        out += R"({"event_bytes":")";
        assign_event_bytes(bytes, req_guid, i, opts.event_size);
        base64_append(out, bytes);
        out += R"(","type":")";
        out += event_type(opts, request, i);
        out += R"("})";
    }
    out += "]}";
    return out;
}

std::optional<ack> decode_ack(std::string_view message, wire_format format) {
    ack out;
    if (format == wire_format::proto) {
        pb::SendEventResponse response;
        if (!response.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
            return std::nullopt;
        }
        out.status = response.status();
        out.code = response.code();
        out.reason = response.reason();
        if (auto guid = response.data().find("req_guid"); guid != response.data().end()) {
            out.req_guid = guid->second;
        }
        return out;
    }
    const auto json = nlohmann::json::parse(message, nullptr, false);
    if (!json.is_object()) return std::nullopt;
    auto integer = [&](const char* key) {
        auto it = json.find(key);
        return it != json.end() && it->is_number_integer() ? it->get<int>() : 0;
    };
    out.status = integer("status");
    out.code = integer("code");
    if (auto it = json.find("reason"); it != json.end() && it->is_string()) {
        out.reason = it->get<std::string>();
    }
    if (auto data = json.find("data"); data != json.end() && data->is_object()) {
        if (auto guid = data->find("req_guid"); guid != data->end() && guid->is_string()) {
            out.req_guid = guid->get<std::string>();
        }
    }
    return out;
}

std::string ack_json_line(const ack& a) {
    nlohmann::json line = {
        {"req_guid", a.req_guid}, {"status", a.status}, {"code", a.code}, {"reason", a.reason}};
    // Replace, not throw, should a reason hold invalid UTF-8.
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string code_name(int code) {
    if (pb::Code_IsValid(code)) return pb::Code_Name(static_cast<pb::Code>(code));
    return "CODE_" + std::to_string(code);
}

}  // namespace raccoon::loadgen
