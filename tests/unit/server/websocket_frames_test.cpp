#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <raccoon/server/http/websocket_frames.hpp>
#include <span>
#include <string>
#include <vector>

namespace raccoon::server::http::websocket_frames {
namespace {

constexpr std::size_t max_message = 1 << 20;
constexpr std::array<unsigned char, 4> key{0x37, 0xfa, 0x21, 0x3d};

// A client frame as RFC 6455 §5 lays it out; `length_bytes` forces a longer
// length field than the payload needs (not allowed).
std::string client_frame(unsigned op, std::string_view payload, bool fin = true,
                         int length_bytes = -1, unsigned char first_bits = 0) {
    std::string frame;
    frame.push_back(static_cast<char>((fin ? 0x80 : 0) | first_bits | op));
    const std::size_t n = payload.size();
    if (length_bytes < 0) length_bytes = n < 126 ? 0 : n <= 0xFFFF ? 2 : 8;
    frame.push_back(static_cast<char>(0x80 | (length_bytes == 0   ? n
                                              : length_bytes == 2 ? 126
                                                                  : 127)));
    for (int i = length_bytes; i-- > 0;) frame.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    frame.append(reinterpret_cast<const char*>(key.data()), 4);
    for (std::size_t i = 0; i < n; ++i) frame.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
    return frame;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    return p.append(reason);
}

reader::step read(reader& r, std::string& bytes) { return r.next({bytes.data(), bytes.size()}); }

void expect_failure(std::string bytes, std::uint16_t code, std::size_t max = max_message) {
    reader r(max);
    const auto step = read(r, bytes);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::failure);
    EXPECT_EQ(step.found->code, code) << step.found->payload;
}

TEST(websocket_frames, a_masked_binary_frame_is_one_message_unmasked_in_place) {
    const std::string payload =
        "\x0a\x03"
        "abc, and more than eight bytes";
    std::string bytes = client_frame(0x2, payload);
    reader r(max_message);
    const auto step = read(r, bytes);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::message);
    EXPECT_FALSE(step.found->text);
    EXPECT_EQ(step.found->payload, payload);
    EXPECT_EQ(step.consumed, bytes.size());
    EXPECT_EQ(step.found->payload.data(), bytes.data() + 6);
}

TEST(websocket_frames, every_prefix_of_a_frame_asks_for_more_and_says_how_much_once_it_can) {
    for (const std::size_t size : {0u, 5u, 125u, 126u, 300u, 70'000u}) {
        const std::string payload(size, 'x');
        const std::string whole = client_frame(0x2, payload);
        const std::size_t header = size < 126 ? 6 : size <= 0xFFFF ? 8 : 14;
        for (std::size_t cut = 0; cut < whole.size(); cut += cut < 20 ? 1 : 997) {
            std::string part = whole.substr(0, cut);
            reader r(max_message);
            const auto step = read(r, part);
            EXPECT_FALSE(step.found.has_value()) << size << " cut at " << cut;
            EXPECT_EQ(step.consumed, 0u);
            EXPECT_EQ(step.frame_bytes, cut >= header ? whole.size() : 0u)
                << size << " cut at " << cut;
        }
        std::string all = whole;
        reader r(max_message);
        const auto step = read(r, all);
        ASSERT_TRUE(step.found.has_value()) << size;
        EXPECT_EQ(step.found->payload, payload);
    }
}

TEST(websocket_frames, frames_in_one_buffer_come_out_one_call_each) {
    std::string bytes = client_frame(0x2, "first") + client_frame(0x1, R"({"second":1})") +
                        client_frame(0x9, "ping?");
    reader r(max_message);
    std::size_t at = 0;
    std::vector<std::pair<event::kind, std::string>> seen;
    while (at < bytes.size()) {
        const auto step = r.next({bytes.data() + at, bytes.size() - at});
        ASSERT_TRUE(step.found.has_value());
        at += step.consumed;
        seen.emplace_back(step.found->what, std::string(step.found->payload));
    }
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0], std::make_pair(event::kind::message, std::string("first")));
    EXPECT_EQ(seen[1], std::make_pair(event::kind::message, std::string(R"({"second":1})")));
    EXPECT_EQ(seen[2], std::make_pair(event::kind::ping, std::string("ping?")));
}

TEST(websocket_frames, a_fragmented_message_is_joined_around_control_frames) {
    // "é" split across two fragments: valid once joined.
    std::string bytes = client_frame(0x1, "caf\xc3", false) + client_frame(0x9, "p") +
                        client_frame(0x0, "\xa9 ", false) + client_frame(0x0, "ok");
    reader r(max_message);
    auto step = read(r, bytes);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::ping);
    EXPECT_EQ(step.found->payload, "p");
    std::string rest = bytes.substr(step.consumed);
    step = read(r, rest);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::message);
    EXPECT_TRUE(step.found->text);
    EXPECT_EQ(step.found->payload, "caf\xc3\xa9 ok");
    EXPECT_EQ(step.consumed, rest.size());
}

TEST(websocket_frames, fragments_already_read_are_consumed_while_the_rest_is_awaited) {
    const std::string first = client_frame(0x2, "ab", false);
    std::string bytes = first + client_frame(0x0, "cd").substr(0, 3);
    reader r(max_message);
    auto step = read(r, bytes);
    EXPECT_FALSE(step.found.has_value());
    EXPECT_EQ(step.consumed, first.size());
    std::string last = client_frame(0x0, "cd");
    step = read(r, last);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->payload, "abcd");
}

TEST(websocket_frames, length_fields_take_their_shortest_form) {
    reader r(max_message);
    for (const std::size_t size : {125u, 126u, 65'535u, 65'536u}) {
        std::string bytes = client_frame(0x2, std::string(size, 'z'));
        const auto step = read(r, bytes);
        ASSERT_TRUE(step.found.has_value());
        EXPECT_EQ(step.found->payload.size(), size);
    }
    expect_failure(client_frame(0x2, "short", true, 2), close_code::protocol_error);
    expect_failure(client_frame(0x2, std::string(300, 'z'), true, 8), close_code::protocol_error);
    std::string huge{'\x82', '\xff', '\x80', 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    expect_failure(huge, close_code::protocol_error);
}

TEST(websocket_frames, breaches_of_the_protocol_fail_with_1002) {
    std::string unmasked = "\x82\x02hi";
    expect_failure(unmasked, close_code::protocol_error);
    expect_failure(client_frame(0x2, "x", true, -1, 0x40), close_code::protocol_error);  // RSV1
    expect_failure(client_frame(0x3, "x"), close_code::protocol_error);                  // opcode 3
    expect_failure(client_frame(0xB, "x"), close_code::protocol_error);  // opcode 11
    expect_failure(client_frame(0x0, "x"), close_code::protocol_error);
    expect_failure(client_frame(0x2, "a", false) + client_frame(0x2, "b"),
                   close_code::protocol_error);
    expect_failure(client_frame(0x9, "x", false), close_code::protocol_error);
    expect_failure(client_frame(0x9, std::string(126, 'x')), close_code::protocol_error);
}

TEST(websocket_frames, a_message_over_the_limit_fails_with_1009_before_its_payload_arrives) {
    // Only the header of a 10 MB frame.
    std::string header = client_frame(0x2, std::string(10'000'000, 'x')).substr(0, 14);
    expect_failure(header, close_code::too_big, 4 * 1024 * 1024);
    expect_failure(client_frame(0x2, std::string(101, 'x')), close_code::too_big, 100);
    std::string in_fragments =
        client_frame(0x2, std::string(60, 'x'), false) + client_frame(0x0, std::string(41, 'x'));
    expect_failure(in_fragments, close_code::too_big, 100);
    reader at_the_limit(100);
    std::string exact =
        client_frame(0x2, std::string(60, 'x'), false) + client_frame(0x0, std::string(40, 'x'));
    const auto step = read(at_the_limit, exact);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->payload.size(), 100u);
}

TEST(websocket_frames, text_must_be_utf8_and_binary_need_not) {
    expect_failure(client_frame(0x1, "bad \xff"), close_code::bad_payload);
    expect_failure(client_frame(0x1, "\xed\xa0\x80"), close_code::bad_payload);  // a surrogate
    expect_failure(client_frame(0x1, "ends mid-char \xc3", false) + client_frame(0x0, "x"),
                   close_code::bad_payload);
    reader r(max_message);
    std::string binary = client_frame(0x2, "\xff\xfe");
    const auto step = read(r, binary);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::message);
}

TEST(websocket_frames, close_frames_carry_a_valid_code_and_a_utf8_reason) {
    reader r(max_message);
    std::string empty = client_frame(0x8, "");
    auto step = read(r, empty);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::close);
    EXPECT_EQ(step.found->code, close_code::no_status);

    std::string with_reason = client_frame(0x8, close_payload(4000, "bye"));
    step = read(r, with_reason);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->code, 4000);
    EXPECT_EQ(step.found->payload, "bye");

    expect_failure(client_frame(0x8, "\x03"), close_code::protocol_error);
    for (const std::uint16_t invalid : {999, 1004, 1005, 1006, 1015, 2999, 5000}) {
        expect_failure(client_frame(0x8, close_payload(invalid)), close_code::protocol_error);
    }
    expect_failure(client_frame(0x8, close_payload(1000, "\xc0\x80")), close_code::bad_payload);
}

TEST(websocket_frames, server_frames_are_unmasked_with_the_shortest_length) {
    for (const std::size_t size : {0u, 125u, 126u, 65'535u, 65'536u}) {
        std::string out = "kept";
        append_frame(out, opcode::binary, std::string(size, 'y'));
        ASSERT_GE(out.size(), 6u);
        EXPECT_EQ(out.substr(0, 4), "kept");
        const auto* p = reinterpret_cast<const unsigned char*>(out.data() + 4);
        EXPECT_EQ(p[0], 0x82);
        const std::size_t header = size < 126 ? 2 : size <= 0xFFFF ? 4 : 10;
        EXPECT_EQ(p[1], size < 126 ? size : size <= 0xFFFF ? 126u : 127u);
        EXPECT_EQ(out.size(), 4 + header + size);
        std::uint64_t length = size < 126 ? p[1] : 0;
        for (std::size_t i = 2; i < header; ++i) length = (length << 8) | p[i];
        EXPECT_EQ(length, size);
    }
    std::string text;
    append_frame(text, opcode::text, "{}");
    EXPECT_EQ(text, std::string("\x81\x02{}"));
}

TEST(websocket_frames, a_close_frame_keeps_its_reason_within_a_control_frame_and_whole_characters) {
    std::string out;
    append_close(out, close_code::going_away, "bye");
    EXPECT_EQ(out, std::string("\x88\x05\x03\xe9"
                               "bye"));

    // 122 ASCII bytes, then a two-byte character that would straddle the limit.
    const std::string long_reason = std::string(122, 'r') + "\xc3\xa9" + "tail";
    std::string cut;
    append_close(cut, close_code::policy_violation, long_reason);
    EXPECT_EQ(static_cast<unsigned char>(cut[1]), 2u + 122u);
    EXPECT_EQ(cut.substr(4), std::string(122, 'r'));
}

TEST(websocket_frames, client_frames_are_masked_with_the_key_and_laid_out_as_rfc_6455_says) {
    for (const std::size_t size : {0u, 7u, 125u, 126u, 65'536u}) {
        std::string payload(size, 'z');
        for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 7);
        std::string out;
        append_frame(out, opcode::binary, payload, key);
        EXPECT_EQ(out, client_frame(0x2, payload)) << size;
    }
    std::string close;
    append_close(close, close_code::normal, "done", key);
    EXPECT_EQ(close, client_frame(0x8, close_payload(close_code::normal, "done")));
}

TEST(websocket_frames, what_a_client_writes_a_server_reads_back) {
    std::string wire;
    append_frame(wire, opcode::text, "{\"req_guid\":\"1\"}", key);
    append_frame(wire, opcode::ping, "p", masking_key{1, 2, 3, 4});
    append_close(wire, close_code::going_away, "bye", masking_key{9, 8, 7, 6});
    reader server(max_message);
    std::span<char> rest{wire.data(), wire.size()};
    auto step = server.next(rest);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::message);
    EXPECT_TRUE(step.found->text);
    EXPECT_EQ(step.found->payload, "{\"req_guid\":\"1\"}");
    rest = rest.subspan(step.consumed);
    step = server.next(rest);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::ping);
    EXPECT_EQ(step.found->payload, "p");
    rest = rest.subspan(step.consumed);
    step = server.next(rest);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::close);
    EXPECT_EQ(step.found->code, close_code::going_away);
    EXPECT_EQ(step.found->payload, "bye");
    EXPECT_EQ(step.consumed, rest.size());
}

TEST(websocket_frames, a_client_reads_unmasked_server_frames_and_fails_a_masked_one) {
    std::string wire;
    append_frame(wire, opcode::binary, std::string(300, 'a'));
    append_close(wire, close_code::normal, "");
    reader client(max_message, role::client);
    std::span<char> rest{wire.data(), wire.size()};
    auto step = client.next(rest);
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::message);
    EXPECT_EQ(step.found->payload, std::string(300, 'a'));
    step = client.next(rest.subspan(step.consumed));
    ASSERT_TRUE(step.found.has_value());
    EXPECT_EQ(step.found->what, event::kind::close);
    EXPECT_EQ(step.found->code, close_code::normal);

    // Every prefix of an unmasked frame asks for more, with the frame's size
    // once its header is in.
    std::string whole;
    append_frame(whole, opcode::binary, std::string(200, 'b'));
    for (std::size_t cut = 0; cut < whole.size(); ++cut) {
        std::string part = whole.substr(0, cut);
        reader r(max_message, role::client);
        const auto partial = read(r, part);
        EXPECT_FALSE(partial.found.has_value()) << cut;
        EXPECT_EQ(partial.frame_bytes, cut >= 4 ? whole.size() : 0u) << cut;
    }

    std::string masked = client_frame(0x2, "from a server, masked");
    reader strict(max_message, role::client);
    const auto breach = read(strict, masked);
    ASSERT_TRUE(breach.found.has_value());
    EXPECT_EQ(breach.found->what, event::kind::failure);
    EXPECT_EQ(breach.found->code, close_code::protocol_error);
}

}  // namespace
}  // namespace raccoon::server::http::websocket_frames
