#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

// The WebSocket protocol (RFC 6455) after the handshake: the peer's frames
// read from the connection's own buffer (unmasked in place), our frames
// written into its outgoing bytes. The server speaks it after Beast's
// handshake: Beast's per-frame machinery cost about a fifth of the server's
// CPU per event, most of it composed operations and atomics around a few
// bytes of header (docs/performance.md). raccoon-loadgen speaks the client's
// side, for the same reason.
namespace raccoon::server::http::websocket_frames {

// Which end we are: a client masks every frame it sends, a server none (§5.1).
enum class role { server, client };

// The key a client masks a frame with (§5.3).
using masking_key = std::array<unsigned char, 4>;

enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

// The close codes the server sends (RFC 6455 §7.4.1).
namespace close_code {
constexpr std::uint16_t normal = 1000;
constexpr std::uint16_t going_away = 1001;
constexpr std::uint16_t protocol_error = 1002;
constexpr std::uint16_t no_status = 1005;  // received only: a close without a code
constexpr std::uint16_t bad_payload = 1007;
constexpr std::uint16_t policy_violation = 1008;
constexpr std::uint16_t too_big = 1009;
}  // namespace close_code

// What the peer sent: a whole message (its fragments joined), a control
// frame, or a breach of the protocol that ends the connection with `code`.
struct event {
    enum class kind { message, ping, pong, close, failure };
    kind what;
    bool text = false;         // message: a text message, else binary
    std::string_view payload;  // message, ping, pong; close and failure: the reason
    std::uint16_t code = 0;    // close: the peer's code (no_status if none); failure: ours
};

// Reads the peer's frames: masked ones when we are the server, unmasked ones
// when we are the client. Not thread-safe; one per connection.
class reader {
 public:
    // A message (all its fragments) or a frame longer than this fails with too_big.
    explicit reader(std::size_t max_message_bytes, role we_are = role::server)
        : max_message_bytes_(max_message_bytes), peer_masks_(we_are == role::server) {}

    struct step {
        std::optional<event> found;  // nullopt: `data` ends inside a frame
        std::size_t consumed = 0;    // leading bytes of `data` done with
        // With nothing found and a frame's header read: the bytes that frame
        // needs from the start of what is left, so the caller can make room.
        std::size_t frame_bytes = 0;
    };

    // Reads frames from `data`, unmasking their payloads in place, up to the
    // next event. The event's payload views `data` or the reader's own copy
    // of a fragmented message: valid until the next call or until `data`
    // changes. After a failure the reader is not to be used again.
    step next(std::span<char> data);

 private:
    std::size_t max_message_bytes_;
    bool peer_masks_;
    bool in_message_ = false;
    bool message_is_text_ = false;
    std::string fragments_;
};

// Appends one unfragmented frame: a server's without `mask`, a client's with.
void append_frame(std::string& out, opcode op, std::string_view payload,
                  const std::optional<masking_key>& mask = std::nullopt);

// Appends a close frame with `code` and as much of `reason` as a control
// frame holds (123 bytes); masked as append_frame.
void append_close(std::string& out, std::uint16_t code, std::string_view reason,
                  const std::optional<masking_key>& mask = std::nullopt);

}  // namespace raccoon::server::http::websocket_frames
