#pragma once

#include <atomic>
#include <string_view>

namespace raccoon::core {

// Whether this instance should be sent traffic: the load balancer's readiness
// check and gRPC health. Not ready until the publisher has reached its
// destination, and again from the moment a shutdown begins.
class readiness {
 public:
    void set_publisher_connected(bool connected) noexcept {
        publisher_connected_.store(connected, std::memory_order_relaxed);
    }
    void set_draining() noexcept { draining_.store(true, std::memory_order_relaxed); }

    // Empty when ready; otherwise why not.
    std::string_view not_ready_reason() const noexcept {
        if (draining_.load(std::memory_order_relaxed)) return "shutting down";
        if (!publisher_connected_.load(std::memory_order_relaxed)) {
            return "the publisher has not reached its destination";
        }
        return {};
    }

 private:
    std::atomic<bool> publisher_connected_{false};
    std::atomic<bool> draining_{false};
};

}  // namespace raccoon::core
