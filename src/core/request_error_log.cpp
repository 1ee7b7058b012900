#include <chrono>
#include <raccoon/core/request_error_log.hpp>

namespace raccoon::core {

bool rate_limited_log::admit() noexcept {
    const int limit = per_second_.load(std::memory_order_relaxed);
    if (limit <= 0) return true;
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    std::int64_t window = window_second_.load(std::memory_order_relaxed);
    if (now != window && window_second_.compare_exchange_strong(window, now)) {
        // This thread opened the new second: it says what the last ones held back.
        written_in_window_.store(0, std::memory_order_relaxed);
        say_held();
    }
    if (written_in_window_.fetch_add(1, std::memory_order_relaxed) <
        static_cast<std::uint64_t>(limit)) {
        return true;
    }
    suppressed_in_window_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

void rate_limited_log::say_held() noexcept {
    if (auto held = suppressed_in_window_.exchange(0, std::memory_order_relaxed); held > 0) {
        spdlog::warn("{} more lines about {} were not logged (limit {} a second)", held, subject_,
                     per_second_.load(std::memory_order_relaxed));
    }
}

rate_limited_log& request_error_log() {
    static rate_limited_log instance("bad requests");
    return instance;
}

rate_limited_log& undelivered_log() {
    static rate_limited_log instance("batches acked but not delivered");
    return instance;
}

}  // namespace raccoon::core
