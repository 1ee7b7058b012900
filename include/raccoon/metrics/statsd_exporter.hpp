#pragma once

#include <chrono>
#include <raccoon/metrics/exposition.hpp>
#include <raccoon/metrics/registry.hpp>
#include <string_view>
#include <thread>

namespace raccoon::metrics {

// Sends the registry to a statsd server over UDP every `period`, and once more
// when destroyed so the last figures are not lost on shutdown.
class statsd_exporter {
 public:
    // `address` is host:port, [v6]:port, or :port for this host. Throws
    // std::invalid_argument when it does not resolve.
    statsd_exporter(registry& source, std::string_view address, std::chrono::milliseconds period);
    ~statsd_exporter();

    statsd_exporter(const statsd_exporter&) = delete;
    statsd_exporter& operator=(const statsd_exporter&) = delete;

 private:
    void flush();

    registry& source_;
    std::chrono::milliseconds period_;
    int socket_ = -1;
    statsd_lines lines_;
    bool send_failed_ = false;
    std::jthread thread_;
};

}  // namespace raccoon::metrics
