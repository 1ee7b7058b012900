#include <array>
#include <cstdint>
#include <raccoon/codec/base64.hpp>

namespace raccoon::codec {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> decoding_table = [] {
    std::array<std::int8_t, 256> table{};
    table.fill(-1);
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    }
    return table;
}();

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t chunk = (static_cast<unsigned char>(bytes[i]) << 16) |
                              (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                              static_cast<unsigned char>(bytes[i + 2]);
        out.push_back(alphabet[(chunk >> 18) & 63]);
        out.push_back(alphabet[(chunk >> 12) & 63]);
        out.push_back(alphabet[(chunk >> 6) & 63]);
        out.push_back(alphabet[chunk & 63]);
    }
    std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        std::uint32_t chunk = static_cast<unsigned char>(bytes[i]) << 16;
        if (rest == 2) chunk |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        out.push_back(alphabet[(chunk >> 18) & 63]);
        out.push_back(alphabet[(chunk >> 12) & 63]);
        out.push_back(rest == 2 ? alphabet[(chunk >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    // Go's decoder, which upstream reads event_bytes with, skips CR and LF
    // anywhere, so MIME-wrapped base64 is accepted there.
    if (text.find_first_of("\r\n") != std::string_view::npos) {
        std::string unwrapped;
        unwrapped.reserve(text.size());
        for (char c : text) {
            if (c != '\r' && c != '\n') unwrapped.push_back(c);
        }
        return base64_decode(unwrapped);
    }
    std::size_t padding = 0;
    while (!text.empty() && text.back() == '=' && padding < 2) {
        text.remove_suffix(1);
        ++padding;
    }
    if (text.size() % 4 == 1) return std::nullopt;
    if (padding > 0 && (text.size() + padding) % 4 != 0) return std::nullopt;

    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t accumulator = 0;
    int bits = 0;
    for (char c : text) {
        std::int8_t value = decoding_table[static_cast<unsigned char>(c)];
        if (value < 0) return std::nullopt;
        accumulator = (accumulator << 6) | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((accumulator >> bits) & 0xFF));
        }
    }
    // Leftover bits are dropped unchecked, as Go's (non-Strict) StdEncoding does.
    return out;
}

}  // namespace raccoon::codec
