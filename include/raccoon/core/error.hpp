#pragma once

#include <string>
#include <system_error>

namespace raccoon::core {

// Why a batch was not (or not wholly) accepted or delivered. Transports map
// these to their wire codes through codec::wire_status_for.
enum class errc {
    bad_request = 1,
    request_too_large,
    unsupported_media_type,
    publish_failed,
    shutting_down,
    // A batch would make more new topics than EVENT_DISTRIBUTION_MAX_NEW_TOPICS_PER_MINUTE.
    too_many_new_topics,
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

// The outcome of one batch: success, or the first error with its detail.
struct batch_result {
    std::error_code error;
    std::string detail;

    bool ok() const noexcept { return !error; }
};

}  // namespace raccoon::core

template <>
struct std::is_error_code_enum<raccoon::core::errc> : std::true_type {};
