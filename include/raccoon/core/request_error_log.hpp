#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <string_view>
#include <utility>

namespace raccoon::core {

// Warnings that clients or the broker can cause in floods (a malformed
// request, a refused connection, an acked batch not delivered): at most
// `per_second` lines a second. The lines held back are counted, and the count
// is said in one line, naming what they were about (`subject`), when the next
// second's first line is written, or by say_held().
class rate_limited_log {
 public:
    explicit rate_limited_log(std::string_view subject, int per_second = 0)
        : subject_(subject), per_second_(per_second) {}

    // 0 writes every line.
    void set_limit(int per_second) noexcept {
        per_second_.store(per_second, std::memory_order_relaxed);
    }

    // Says how many lines were held back since the last count was said, if any.
    void say_held() noexcept;

    template <class... Args>
    void warn(spdlog::format_string_t<Args...> format, Args&&... args) {
        if (!spdlog::should_log(spdlog::level::warn) || !admit()) return;
        spdlog::warn(format, std::forward<Args>(args)...);
    }

 private:
    bool admit() noexcept;

    const std::string_view subject_;
    std::atomic<int> per_second_;
    std::atomic<std::int64_t> window_second_{0};
    std::atomic<std::uint64_t> written_in_window_{0};
    std::atomic<std::uint64_t> suppressed_in_window_{0};
};

// The process's log of request errors, limited by LOG_REQUEST_ERRORS_PER_SECOND.
rate_limited_log& request_error_log();

// The log of batches acked under EVENT_ACK=0 whose delivery failed, limited
// the same way: they are no bad requests, and are not counted as such.
rate_limited_log& undelivered_log();

}  // namespace raccoon::core
