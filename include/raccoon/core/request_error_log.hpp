#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <utility>

namespace raccoon::core {

// Warnings caused by clients (a malformed request, a refused connection):
// at most `per_second` lines a second, so a flood of bad requests cannot
// flood the log. The lines held back are counted, and the count is said in
// one line when the next second's first line is written.
class rate_limited_log {
 public:
    explicit rate_limited_log(int per_second = 0) : per_second_(per_second) {}

    // 0 writes every line.
    void set_limit(int per_second) noexcept {
        per_second_.store(per_second, std::memory_order_relaxed);
    }

    template <class... Args>
    void warn(spdlog::format_string_t<Args...> format, Args&&... args) {
        if (!spdlog::should_log(spdlog::level::warn) || !admit()) return;
        spdlog::warn(format, std::forward<Args>(args)...);
    }

 private:
    bool admit() noexcept;

    std::atomic<int> per_second_;
    std::atomic<std::int64_t> window_second_{0};
    std::atomic<std::uint64_t> written_in_window_{0};
    std::atomic<std::uint64_t> suppressed_in_window_{0};
};

// The process's log of request errors, limited by LOG_REQUEST_ERRORS_PER_SECOND.
rate_limited_log& request_error_log();

}  // namespace raccoon::core
