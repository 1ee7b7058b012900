#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <raccoon/config/settings.hpp>
#include <raccoon/core/ack_deadline.hpp>
#include <raccoon/core/batch_channel.hpp>
#include <raccoon/core/topic_policy.hpp>

namespace raccoon::core {

// The one entry of every transport into the data path: offers a decoded batch
// to the channel and applies EVENT_ACK, so transports need not know it.
class ingestor {
 public:
    enum class outcome {
        // The batch left the caller: taken into the channel, its ack to come
        // at once (EVENT_ACK=0) or after delivery (EVENT_ACK=1); or, when the
        // server is shutting down, answered at once with errc::shutting_down;
        // or, when its event types are refused, answered at once with why.
        taken,
        // The channel is full: the caller keeps the batch, reads nothing
        // more, and offers it again when `on_room` is called (once, from
        // another thread).
        full,
    };

    // `topics`, when given, judges each batch's event types before it is
    // taken. Under EVENT_ACK=1 a batch's ack is an error once `ack_deadline`
    // (EVENT_ACK_DEADLINE_MS) passes without its delivery; zero: never.
    ingestor(batch_channel& channel, config::ack_mode mode, topic_policy* topics = nullptr,
             std::chrono::milliseconds ack_deadline = std::chrono::milliseconds(0));

    // Whether the publisher reaches its destination, as last checked. While
    // it does not, under EVENT_ACK=1 new batches are refused at once (code 3)
    // instead of waiting for a deadline.
    void set_destination_reachable(bool reachable) noexcept {
        destination_down_.store(!reachable, std::memory_order_relaxed);
    }

    // Ends the deadlines' thread, once the last acks are given.
    void stop_deadlines() {
        if (deadlines_) deadlines_->stop();
    }

    // Takes `bytes` of WORKER_BUFFER_MAX_BYTES for a batch about to be
    // decoded (codec::decoded_memory_bound) and returns true; or returns
    // false, and the caller decodes nothing and reads nothing more until
    // `on_room` is called (once, from another thread): the bytes are then
    // held by the batch, or the channel is closed, which its push says.
    bool reserve(batch& b, std::size_t bytes, batch_channel::room_callback on_room) {
        return channel_.reserve_or_wait(b, bytes, on_room);
    }

    // Offers the batch, whose completion is its ack. With wake::deferred the
    // caller calls wake_workers() once after a burst of submits.
    outcome submit(std::unique_ptr<batch>& b, batch_channel::room_callback on_room,
                   batch_channel::wake when = batch_channel::wake::now);

    void wake_workers() { channel_.wake_consumer(); }

    // Events acked under EVENT_ACK=0 whose delivery later failed.
    std::uint64_t undelivered_after_ack() const noexcept {
        return undelivered_after_ack_.load(std::memory_order_relaxed);
    }

 private:
    batch_channel& channel_;
    config::ack_mode mode_;
    topic_policy* topics_;
    std::unique_ptr<ack_deadlines> deadlines_;
    std::atomic<bool> destination_down_{false};
    std::atomic<std::uint64_t> undelivered_after_ack_{0};
};

}  // namespace raccoon::core
