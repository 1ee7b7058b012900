#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace raccoon::codec {

// Standard base64 (RFC 4648 §4) with padding, as Go's encoding/json writes []byte.
std::string base64_encode(std::string_view bytes);

// Accepts standard base64 with or without padding, skipping CR and LF and
// ignoring the unused bits of the last character as Go's base64.StdEncoding
// does; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace raccoon::codec
