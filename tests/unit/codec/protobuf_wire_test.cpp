#include "codec/protobuf_wire.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <raccoon/codec/codec.hpp>
#include <random>
#include <string>
#include <string_view>

#include "raystack/raccoon/v1beta1/raccoon.pb.h"

namespace raccoon::codec {
namespace {

namespace pb = raystack::raccoon::v1beta1;
using namespace std::string_literals;

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

// Our parser and libprotobuf's must agree on whether `body` is a request and,
// when it is, on every field the batch takes.
void expect_same_as_libprotobuf(const std::string& body) {
    pb::SendEventRequest expected;
    const bool libprotobuf_accepts = expected.ParseFromString(body);
    auto ours = parse_send_event_request(body);
    ASSERT_EQ(ours.has_value(), libprotobuf_accepts) << "body " << hex(body);
    if (!ours) return;
    const core::batch& b = **ours;
    EXPECT_EQ(b.req_guid, expected.req_guid()) << hex(body);
    EXPECT_EQ(b.sent_time_seconds, expected.sent_time().seconds()) << hex(body);
    EXPECT_EQ(b.sent_time_nanos, expected.sent_time().nanos()) << hex(body);
    ASSERT_EQ(b.events.size(), static_cast<std::size_t>(expected.events_size())) << hex(body);
    for (int i = 0; i < expected.events_size(); ++i) {
        EXPECT_EQ(b.events[static_cast<std::size_t>(i)].bytes, expected.events(i).event_bytes());
        EXPECT_EQ(b.events[static_cast<std::size_t>(i)].type, expected.events(i).type());
    }
}

std::string random_bytes(std::mt19937& random, std::size_t max_length) {
    std::string out(std::uniform_int_distribution<std::size_t>(0, max_length)(random), '\0');
    for (char& c : out) c = static_cast<char>(random() & 0xff);
    return out;
}

// Valid UTF-8 of one to four bytes per character, or at times any bytes.
std::string random_text(std::mt19937& random) {
    static const std::string samples[] = {"a", "Z",    "-",    "é",           "€",
                                          "😀", "\x7f", "\xc3", "\xed\xa0\x80"};
    std::string out;
    const auto length = std::uniform_int_distribution<int>(0, 12)(random);
    for (int i = 0; i < length; ++i) out += samples[random() % std::size(samples)];
    return out;
}

std::string random_request(std::mt19937& random) {
    pb::SendEventRequest request;
    request.set_req_guid(random_text(random));
    if (random() % 2) {
        request.mutable_sent_time()->set_seconds(static_cast<std::int64_t>(random()) - (1 << 30));
        request.mutable_sent_time()->set_nanos(static_cast<std::int32_t>(random() % 1'000'000'000));
    }
    const auto events = random() % 5;
    for (unsigned i = 0; i < events; ++i) {
        auto* e = request.add_events();
        e->set_event_bytes(random_bytes(random, 40));
        e->set_type(random_text(random));
    }
    std::string body;
    // Serialized without the UTF-8 check, so invalid strings reach both parsers.
    request.SerializePartialToString(&body);
    // At times unknown fields of every wire type, where clients of newer protos put them.
    if (random() % 3 == 0) body += "\x20\x96\x01"s + "\x29" + std::string(8, 'x') + "\x35xxxx"s;
    if (random() % 5 == 0) body += "\x23\x08\x01\x24"s;
    return body;
}

void mutate(std::mt19937& random, std::string& body) {
    const auto edits = 1 + random() % 3;
    for (unsigned i = 0; i < edits && !body.empty(); ++i) {
        const auto at = random() % body.size();
        switch (random() % 4) {
            case 0:
                body[at] = static_cast<char>(random() & 0xff);
                break;
            case 1:
                body[at] = static_cast<char>(body[at] ^ (1 << (random() % 8)));
                break;
            case 2:
                body.resize(at);
                break;
            default:
                body.insert(at, 1, static_cast<char>(random() & 0xff));
                break;
        }
    }
}

TEST(protobuf_wire_request, agrees_with_libprotobuf_on_valid_requests) {
    std::mt19937 random(20261127);
    for (int i = 0; i < 3000; ++i) expect_same_as_libprotobuf(random_request(random));
}

TEST(protobuf_wire_request, agrees_with_libprotobuf_on_mutated_requests) {
    route_protobuf_logs();
    std::mt19937 random(6);
    for (int i = 0; i < 30000; ++i) {
        std::string body = random_request(random);
        mutate(random, body);
        expect_same_as_libprotobuf(body);
        if (HasFatalFailure()) return;
    }
}

TEST(protobuf_wire_request, agrees_with_libprotobuf_on_wire_edge_cases) {
    route_protobuf_logs();
    const std::string cases[] = {
        ""s,
        // A known field with another wire type is an unknown field.
        "\x08\x01\x0a\x02id"s,
        // Two sent_time messages merge; a later req_guid wins.
        "\x12\x02\x08\x05\x12\x02\x10\x07\x0a\x01x\x0a\x01y"s,
        // nanos keeps the low 32 bits of a longer varint.
        "\x12\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s,
        // A ten-byte varint with high bits in its last byte.
        "\x12\x0b\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"s,
        // An eleven-byte varint.
        "\x12\x0c\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s,
        // An unknown group, nested, then one left open, then a stray end of group.
        "\x23\x2b\x08\x01\x2c\x24\x0a\x01x"s,
        "\x23\x08\x01"s,
        "\x24"s,
        // Field number zero; wire types 6 and 7; a tag over five bytes.
        "\x00\x01"s,
        "\x0e"s,
        "\x0f"s,
        "\x8a\x80\x80\x80\x80\x00\x01x"s,
        "\x8a\x80\x80\x80\x00\x01x"s,
        // A length past the end; an empty event; an event with invalid UTF-8 in its type.
        "\x1a\x05\x0a\x01x"s,
        "\x1a\x00"s,
        "\x1a\x03\x12\x01\xff"s,
        // Invalid UTF-8 in bytes is fine.
        "\x1a\x03\x0a\x01\xff"s,
    };
    for (const auto& body : cases) expect_same_as_libprotobuf(body);
}

TEST(protobuf_wire_request, allocates_the_events_once) {
    // Ten events with unknown fields and a group between them: the vector is
    // sized from a first pass over the tags, not grown event by event.
    pb::SendEventRequest request;
    request.set_req_guid("guid");
    for (int i = 0; i < 10; ++i) {
        auto* e = request.add_events();
        e->set_type("click");
        e->set_event_bytes(std::string(200, static_cast<char>(i)));
    }
    const std::string body = "\x28\x07"s + request.SerializeAsString() + "\x23\x08\x01\x24"s;
    auto parsed = parse_send_event_request(body);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ((*parsed)->events.size(), 10u);
    EXPECT_EQ((*parsed)->events.capacity(), 10u);
}

TEST(protobuf_wire_response, is_what_libprotobuf_writes) {
    const std::optional<std::string> guids[] = {std::nullopt, "", "3f1c2a9e-guid",
                                                std::string(200, 'g')};
    const std::string reasons[] = {"", "publish failed: broker down", std::string(300, 'r')};
    const std::int64_t times[] = {0, 1, 1'795'000'000, -5};
    for (int status : {1, 2}) {
        for (int code : {0, 1, 2, 5}) {
            for (auto sent_time : times) {
                for (const auto& reason : reasons) {
                    for (const auto& guid : guids) {
                        pb::SendEventResponse expected;
                        expected.set_status(static_cast<pb::Status>(status));
                        expected.set_code(static_cast<pb::Code>(code));
                        expected.set_sent_time(sent_time);
                        expected.set_reason(reason);
                        if (guid) (*expected.mutable_data())["req_guid"] = *guid;
                        EXPECT_EQ(
                            hex(write_send_event_response(status, code, sent_time, reason, guid)),
                            hex(expected.SerializeAsString()))
                            << status << " " << code << " " << sent_time << " " << reason.size()
                            << " " << (guid ? guid->size() : 0);
                    }
                }
            }
        }
    }
}

}  // namespace
}  // namespace raccoon::codec
