#pragma once

#include <cstdio>
#include <mutex>
#include <raccoon/publisher/kind.hpp>
#include <raccoon/publisher/publisher.hpp>

namespace raccoon::publisher::log {

// Writes each event as one JSON line, {"topic","type","conn_group","event_bytes"
// (base64)}, for a run with no broker. Delivered once the line is written.
class log_publisher final : public publisher {
 public:
    explicit log_publisher(std::FILE* out = stdout) : out_(out) {}

    void publish(std::unique_ptr<core::batch> batch) override;
    std::size_t flush(std::chrono::milliseconds timeout) override;
    std::chrono::milliseconds flush_timeout() const override { return {}; }
    void stop_waiting() override {}
    bool connected() const override { return true; }
    std::string_view name() const noexcept override { return "log"; }

 private:
    std::FILE* out_;
    std::mutex out_mutex_;
};

// The log publisher, as the registry lists it: no settings, any topic name.
kind publisher_kind();

}  // namespace raccoon::publisher::log
