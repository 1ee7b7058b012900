#include <algorithm>
#include <array>
#include <cstring>
#include <raccoon/codec/utf8.hpp>
#include <raccoon/server/http/websocket_frames.hpp>

namespace raccoon::server::http::websocket_frames {
namespace {

constexpr std::size_t max_control_payload = 125;
constexpr std::size_t max_close_reason = max_control_payload - 2;

struct frame_header {
    bool fin;
    opcode op;
    std::uint64_t length;
    std::optional<masking_key> mask;
    std::size_t size;  // of the header itself
};

enum class header_status { complete, incomplete, malformed };

std::uint64_t read_big_endian(const unsigned char* p, std::size_t bytes) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < bytes; ++i) value = (value << 8) | p[i];
    return value;
}

header_status read_header(std::span<const char> data, bool peer_masks, frame_header& h) {
    if (data.size() < 2) return header_status::incomplete;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    // No extension was negotiated, so the reserved bits stay 0; every client
    // frame is masked and no server frame is (§5.1).
    const bool masked = (p[1] & 0x80) != 0;
    if ((p[0] & 0x70) != 0 || masked != peer_masks) return header_status::malformed;
    h.fin = (p[0] & 0x80) != 0;
    h.op = static_cast<opcode>(p[0] & 0x0F);
    const unsigned length7 = p[1] & 0x7F;
    const std::size_t length_bytes = length7 == 127 ? 8 : length7 == 126 ? 2 : 0;
    h.size = 2 + length_bytes + (masked ? 4 : 0);
    if (data.size() < h.size) return header_status::incomplete;
    h.length = length_bytes == 0 ? length7 : read_big_endian(p + 2, length_bytes);
    // The shortest form of the length is required, and 64 bits start with 0 (§5.2).
    if ((length_bytes == 2 && h.length < 126) ||
        (length_bytes == 8 && (h.length <= 0xFFFF || (h.length >> 63) != 0))) {
        return header_status::malformed;
    }
    if (masked) std::memcpy(h.mask.emplace().data(), p + 2 + length_bytes, 4);
    return header_status::complete;
}

// Masks or unmasks: the same XOR either way.
void apply_mask(char* payload, std::size_t length, const masking_key& mask) {
    // Eight bytes at a time: the key repeats every four.
    std::uint32_t key32;
    std::memcpy(&key32, mask.data(), 4);
    const std::uint64_t key64 = (static_cast<std::uint64_t>(key32) << 32) | key32;
    std::size_t i = 0;
    for (; i + 8 <= length; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, payload + i, 8);
        word ^= key64;
        std::memcpy(payload + i, &word, 8);
    }
    for (; i < length; ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
}

bool valid_close_code(std::uint16_t code) {
    // §7.4.1-2: the codes an endpoint may send, and the ranges for libraries
    // and applications.
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

reader::step fail(std::uint16_t code, std::string_view reason) {
    return {event{event::kind::failure, false, reason, code}, 0, 0};
}

// Appends a header; the payload that follows starts at the returned offset.
std::size_t append_header(std::string& out, opcode op, std::size_t length,
                          const std::optional<masking_key>& mask) {
    out.push_back(static_cast<char>(0x80 | static_cast<unsigned>(op)));
    const unsigned mask_bit = mask ? 0x80 : 0;
    if (length < 126) {
        out.push_back(static_cast<char>(mask_bit | length));
    } else {
        const std::size_t length_bytes = length <= 0xFFFF ? 2 : 8;
        out.push_back(static_cast<char>(mask_bit | (length_bytes == 2 ? 126 : 127)));
        for (std::size_t i = length_bytes; i-- > 0;) {
            out.push_back(
                static_cast<char>((static_cast<std::uint64_t>(length) >> (8 * i)) & 0xFF));
        }
    }
    if (mask) out.append(reinterpret_cast<const char*>(mask->data()), mask->size());
    return out.size();
}

void mask_from(std::string& out, std::size_t payload_at, const std::optional<masking_key>& mask) {
    if (mask) apply_mask(out.data() + payload_at, out.size() - payload_at, *mask);
}

}  // namespace

reader::step reader::next(std::span<char> data) {
    // The last fragmented message was handed out by the previous call.
    if (!in_message_ && !fragments_.empty()) {
        fragments_.clear();
        fragments_.shrink_to_fit();
    }
    std::size_t at = 0;
    while (true) {
        frame_header h{};
        switch (read_header(data.subspan(at), peer_masks_, h)) {
            case header_status::incomplete:
                return {std::nullopt, at, 0};
            case header_status::malformed:
                return fail(close_code::protocol_error, "malformed frame header");
            case header_status::complete:
                break;
        }
        const bool control = static_cast<unsigned>(h.op) >= 0x8;
        if (control && (!h.fin || h.length > max_control_payload)) {
            return fail(close_code::protocol_error, "fragmented or oversized control frame");
        }
        if (!control && (h.length > max_message_bytes_ ||
                         (in_message_ && fragments_.size() + h.length > max_message_bytes_))) {
            return fail(close_code::too_big, "message too big");
        }
        const std::size_t frame_bytes = h.size + static_cast<std::size_t>(h.length);
        if (data.size() - at < frame_bytes) return {std::nullopt, at, frame_bytes};
        char* payload = data.data() + at + h.size;
        const auto length = static_cast<std::size_t>(h.length);
        if (h.mask) apply_mask(payload, length, *h.mask);
        at += frame_bytes;
        const std::string_view bytes(payload, length);
        switch (h.op) {
            case opcode::ping:
                return {event{event::kind::ping, false, bytes, 0}, at, 0};
            case opcode::pong:
                return {event{event::kind::pong, false, bytes, 0}, at, 0};
            case opcode::close: {
                if (length == 0)
                    return {event{event::kind::close, false, {}, close_code::no_status}, at, 0};
                if (length == 1) return fail(close_code::protocol_error, "close frame of one byte");
                const auto code = static_cast<std::uint16_t>(
                    read_big_endian(reinterpret_cast<const unsigned char*>(payload), 2));
                if (!valid_close_code(code))
                    return fail(close_code::protocol_error, "invalid close code");
                const std::string_view reason = bytes.substr(2);
                if (!codec::valid_utf8(reason))
                    return fail(close_code::bad_payload, "close reason not UTF-8");
                return {event{event::kind::close, false, reason, code}, at, 0};
            }
            case opcode::text:
            case opcode::binary: {
                if (in_message_)
                    return fail(close_code::protocol_error, "a message inside a fragmented one");
                const bool text = h.op == opcode::text;
                if (h.fin) {
                    if (text && !codec::valid_utf8(bytes))
                        return fail(close_code::bad_payload, "text message not UTF-8");
                    return {event{event::kind::message, text, bytes, 0}, at, 0};
                }
                in_message_ = true;
                message_is_text_ = text;
                fragments_.assign(bytes);
                continue;
            }
            case opcode::continuation: {
                if (!in_message_)
                    return fail(close_code::protocol_error, "a continuation outside a message");
                fragments_.append(bytes);
                if (!h.fin) continue;
                in_message_ = false;
                if (message_is_text_ && !codec::valid_utf8(fragments_)) {
                    return fail(close_code::bad_payload, "text message not UTF-8");
                }
                return {event{event::kind::message, message_is_text_, fragments_, 0}, at, 0};
            }
        }
        return fail(close_code::protocol_error, "unknown opcode");
    }
}

void append_frame(std::string& out, opcode op, std::string_view payload,
                  const std::optional<masking_key>& mask) {
    const std::size_t payload_at = append_header(out, op, payload.size(), mask);
    out.append(payload);
    mask_from(out, payload_at, mask);
}

void append_close(std::string& out, std::uint16_t code, std::string_view reason,
                  const std::optional<masking_key>& mask) {
    if (reason.size() > max_close_reason) {
        // Cut before a character, not inside one: the reason must stay UTF-8.
        std::size_t cut = max_close_reason;
        while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
        reason = reason.substr(0, cut);
    }
    const std::size_t payload_at = append_header(out, opcode::close, 2 + reason.size(), mask);
    out.push_back(static_cast<char>(code >> 8));
    out.push_back(static_cast<char>(code & 0xFF));
    out.append(reason);
    mask_from(out, payload_at, mask);
}

}  // namespace raccoon::server::http::websocket_frames
