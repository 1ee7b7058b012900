#pragma once

#include <cstddef>
#include <expected>
#include <limits>
#include <memory>
#include <raccoon/codec/codec.hpp>
#include <raccoon/core/batch.hpp>
#include <string_view>

namespace raccoon::codec {

// Reads a JSON SendEventRequest as upstream does, with Go's encoding/json
// into its generated structs: keys matched exactly or case-insensitively,
// the last of repeated keys winning, unknown keys skipped, null leaving a
// field alone (or emptying sent_time, events and event_bytes), event_bytes
// as standard base64 or an array of bytes. Also takes reqGuid, sentTime and
// eventBytes, and integers written as strings (protojson's int64), which
// upstream refuses. Anything else is refused with a reason naming the field,
// and so is an events array longer than `max_events`, as soon as it is.
std::expected<std::unique_ptr<core::batch>, decode_error> decode_json_request(
    std::string_view body, std::size_t max_events = std::numeric_limits<std::size_t>::max(),
    std::unique_ptr<core::batch> into = std::make_unique<core::batch>());

}  // namespace raccoon::codec
