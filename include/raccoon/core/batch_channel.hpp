#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <raccoon/core/batch.hpp>
#include <raccoon/core/bounded_channel.hpp>
#include <raccoon/core/memory_budget.hpp>
#include <vector>

namespace raccoon::core {

// WORKER_BUFFER_MAX_BYTES's default: what a server with a few GB of memory
// can hold of undelivered events, beyond its connections and the publisher.
constexpr std::size_t default_buffer_max_bytes = std::size_t{256} << 20;

// The one channel between the transports and the workers, bounded twice: in
// batches (WORKER_BUFFER_CHANNEL_SIZE) and in bytes (WORKER_BUFFER_MAX_BYTES).
// The bytes bound reaches past the channel: a batch takes its memory_bytes()
// when it is pushed and gives them back when it is destroyed, after its last
// event's delivery report, so it bounds every undelivered event the server
// holds, in the channel, the workers and the publisher. A push that either
// bound refuses waits the same way (a callback when there is room).
class batch_channel {
 public:
    using channel = bounded_channel<std::unique_ptr<batch>>;
    using push_result = channel::push_result;
    using wake = channel::wake;
    using room_callback = channel::room_callback;

    explicit batch_channel(std::size_t capacity, std::size_t max_bytes = default_buffer_max_bytes)
        : batches_(capacity), bytes_(max_bytes) {}

    // Takes `bytes` for the batch before it is decoded (an upper bound of
    // its cost), and returns true; true too when the channel is closed, which
    // the batch's push then says. Or, when the bytes bound is reached, keeps
    // `on_room` to call once from another thread when the bytes are held and
    // returns false.
    bool reserve_or_wait(batch& b, std::size_t bytes, room_callback& on_room) {
        return bytes_.take_or_wait(b.memory_claim(), bytes, on_room) !=
               memory_budget::take_result::full;
    }

    // Moves the batch in and returns pushed; or, when either bound is
    // reached, leaves it with the caller, keeps `on_room` to call once from
    // another thread when it may fit (or the channel closes), and returns
    // full; or returns closed. Bytes granted while it waited, or reserved,
    // stay with the batch, settled to its cost, so its next push does not
    // wait for them again.
    push_result push_or_wait(std::unique_ptr<batch>& b, room_callback on_room,
                             wake when = wake::now) {
        budget_claim& claim = b->memory_claim();
        std::size_t cost = b->memory_bytes();
        if (claim.held() > 0) {
            bytes_.settle(claim, cost);
            cost = 0;
        }
        switch (bytes_.take_or_wait(claim, cost, on_room)) {
            case memory_budget::take_result::taken:
                return batches_.push_or_wait(b, std::move(on_room), when);
            case memory_budget::take_result::full:
                return push_result::full;
            case memory_budget::take_result::closed:
                break;
        }
        return push_result::closed;
    }

    // As bounded_channel's.
    void wake_consumer() { batches_.wake_consumer(); }
    bool pop_some(std::vector<std::unique_ptr<batch>>& out, std::size_t max,
                  std::chrono::steady_clock::time_point deadline =
                      std::chrono::steady_clock::time_point::max()) {
        return batches_.pop_some(out, max, deadline);
    }
    std::optional<std::unique_ptr<batch>> pop_until(
        std::chrono::steady_clock::time_point deadline) {
        return batches_.pop_until(deadline);
    }

    // Refuses further pushes and calls every waiting push's callback; the
    // batches in stay poppable and keep their bytes until destroyed.
    void close() {
        bytes_.close();
        batches_.close();
    }

    // Batches in the channel now.
    std::size_t size() const { return batches_.size(); }
    std::size_t capacity() const noexcept { return batches_.capacity(); }
    // Bytes held now by the batches pushed and not yet destroyed.
    std::size_t bytes_held() const noexcept { return bytes_.held(); }
    std::size_t max_bytes() const noexcept { return bytes_.limit(); }

 private:
    channel batches_;
    memory_budget bytes_;
};

}  // namespace raccoon::core
