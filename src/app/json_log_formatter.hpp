#pragma once

#include <spdlog/formatter.h>

#include <memory>

namespace raccoon::app {

// LOG_FORMAT=json: one JSON object per line, {"time","level","thread","message"},
// with the time in UTC. Messages may quote client input, so invalid UTF-8 is
// replaced rather than breaking the line for the shipper.
class json_log_formatter final : public spdlog::formatter {
 public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
    std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace raccoon::app
