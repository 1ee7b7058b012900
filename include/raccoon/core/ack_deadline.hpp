#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <raccoon/core/batch.hpp>
#include <thread>

namespace raccoon::core {

// A batch's ack, given once: by its delivery or by its deadline, whichever
// comes first; the other finds it given.
class ack_once {
 public:
    explicit ack_once(batch::completion ack) : ack_(std::move(ack)) {}

    void give(const batch_result& result) {
        if (given_.exchange(true, std::memory_order_acq_rel)) return;
        // Only the winner touches ack_; it is freed here, not with this object.
        batch::completion ack = std::move(ack_);
        if (ack) ack(result);
    }

    // Before it is shared: the ack back, not given.
    batch::completion take() { return std::move(ack_); }

 private:
    std::atomic<bool> given_{false};
    batch::completion ack_;
};

// EVENT_ACK_DEADLINE_MS: a thread that gives each batch's ack an error once
// its deadline passes without delivery, so a client learns of a broker that
// does not answer in time rather than after librdkafka's message timeout.
// The events stay with the publisher and may still be delivered: a client
// that retries may then duplicate them.
class ack_deadlines {
 public:
    explicit ack_deadlines(std::chrono::milliseconds timeout);
    ~ack_deadlines();
    ack_deadlines(const ack_deadlines&) = delete;
    ack_deadlines& operator=(const ack_deadlines&) = delete;

    // Starts the ack's deadline, from now.
    void watch(std::shared_ptr<ack_once> ack);

    // Ends the thread; deadlines not yet passed are dropped.
    void stop();

 private:
    void run();

    const std::chrono::milliseconds timeout_;
    std::mutex mutex_;
    std::condition_variable wakeup_;
    // In deadline order: every deadline is now plus the same timeout.
    std::deque<std::pair<clock::time_point, std::shared_ptr<ack_once>>> pending_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace raccoon::core
