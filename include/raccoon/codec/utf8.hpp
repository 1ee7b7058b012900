#pragma once

#include <string_view>

namespace raccoon::codec {

// Well-formed UTF-8 as libprotobuf and RFC 6455 both require it: no overlong
// forms, no surrogates, nothing past U+10FFFF.
bool valid_utf8(std::string_view text);

}  // namespace raccoon::codec
