#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace raccoon::codec {

// Why a request with more events than SERVER_MAX_EVENTS_PER_REQUEST is
// refused: with its count when it was counted, or without when reading
// stopped at the first event too many.
std::string too_many_events(std::optional<std::size_t> count, std::size_t max);

}  // namespace raccoon::codec
