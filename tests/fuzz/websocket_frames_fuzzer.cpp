// The WebSocket frame reader (server/http/websocket_frames) fed as a
// connection feeds it: bytes arriving in pieces, what it consumed dropped
// from the front. Every event it reports must be one RFC 6455 allows, and
// what the server writes back in answer must read back the same.
//
// Input: the first byte picks our role (bit 0: client, else server) and the
// size of the pieces the rest arrives in.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <raccoon/codec/utf8.hpp>
#include <raccoon/server/http/websocket_frames.hpp>
#include <string>
#include <string_view>

namespace {

namespace frames = raccoon::server::http::websocket_frames;
using frames::event;

constexpr std::size_t max_message_bytes = 1024;
constexpr std::size_t max_control_payload = 125;
constexpr frames::masking_key key{0x12, 0x34, 0x56, 0x78};

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "websocket_frames: %s\n", what);
    std::abort();
}

// Reads `wire` whole with a fresh reader in `role` and returns its first event.
event read_back(std::string wire, frames::role role) {
    frames::reader reader(max_message_bytes, role);
    const auto step = reader.next({wire.data(), wire.size()});
    if (!step.found || step.consumed != wire.size()) broken("a written frame does not read back");
    event found = *step.found;
    // The payload views `wire`, which ends here.
    found.payload = {};
    return found;
}

// What the peer of `we_are` writes: masked when it is the client.
std::optional<frames::masking_key> mask_of_peer(frames::role we_are) {
    return we_are == frames::role::server ? std::optional(key) : std::nullopt;
}

frames::role other(frames::role r) {
    return r == frames::role::server ? frames::role::client : frames::role::server;
}

// Checks one event; false when the connection ends with it.
bool check(const event& e, frames::role we_are) {
    switch (e.what) {
        case event::kind::message: {
            if (e.payload.size() > max_message_bytes) broken("a message over the limit");
            if (e.text && !raccoon::codec::valid_utf8(e.payload))
                broken("a text message not UTF-8");
            // The same message, written by the peer, reads back the same.
            std::string wire;
            frames::append_frame(wire, e.text ? frames::opcode::text : frames::opcode::binary,
                                 e.payload, mask_of_peer(we_are));
            const std::string copy(e.payload);
            frames::reader reader(max_message_bytes, we_are);
            const auto step = reader.next({wire.data(), wire.size()});
            if (!step.found || step.found->what != event::kind::message ||
                step.found->text != e.text || step.found->payload != copy) {
                broken("a message written again reads back otherwise");
            }
            return true;
        }
        case event::kind::ping:
        case event::kind::pong: {
            if (e.payload.size() > max_control_payload) broken("a control payload over 125 bytes");
            // Our pong in answer reaches the peer with the ping's payload.
            std::string wire;
            frames::append_frame(wire, frames::opcode::pong, e.payload,
                                 mask_of_peer(other(we_are)));
            frames::reader peer(max_message_bytes, other(we_are));
            const auto step = peer.next({wire.data(), wire.size()});
            if (!step.found || step.found->what != event::kind::pong ||
                step.found->payload != e.payload) {
                broken("a pong does not carry the ping's payload");
            }
            return true;
        }
        case event::kind::close:
        case event::kind::failure: {
            if (e.what == event::kind::failure && e.code != frames::close_code::protocol_error &&
                e.code != frames::close_code::bad_payload &&
                e.code != frames::close_code::too_big) {
                broken("a failure with a code of its own");
            }
            if (!raccoon::codec::valid_utf8(e.payload)) broken("a close reason not UTF-8");
            // The close we answer with is one the peer accepts.
            const std::uint16_t code =
                e.code == frames::close_code::no_status ? frames::close_code::normal : e.code;
            std::string wire;
            frames::append_close(wire, code, e.what == event::kind::failure ? e.payload : "",
                                 mask_of_peer(other(we_are)));
            const event answer = read_back(std::move(wire), other(we_are));
            if (answer.what != event::kind::close || answer.code != code) {
                broken("our close does not read back");
            }
            return false;
        }
    }
    broken("an event of no kind");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const frames::role we_are = (data[0] & 1) != 0 ? frames::role::client : frames::role::server;
    const std::size_t piece = 1 + (data[0] >> 1) * 8;
    const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

    frames::reader reader(max_message_bytes, we_are);
    std::string buffer;
    std::size_t fed = 0;
    while (fed < stream.size()) {
        const std::size_t arriving = std::min(piece, stream.size() - fed);
        buffer.append(stream.substr(fed, arriving));
        fed += arriving;
        std::size_t begin = 0;
        for (;;) {
            const std::size_t unread = buffer.size() - begin;
            const auto step = reader.next({buffer.data() + begin, unread});
            if (step.consumed > unread) broken("consumed more than it was given");
            begin += step.consumed;
            if (!step.found) {
                if (step.frame_bytes != 0 && step.frame_bytes <= buffer.size() - begin)
                    broken("asked for bytes it already has");
                break;
            }
            if (!check(*step.found, we_are)) return 0;
        }
        buffer.erase(0, begin);
    }
    return 0;
}
