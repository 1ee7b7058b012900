#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace raccoon::core {

// A multi-producer, multi-consumer queue of fixed capacity. Producers never
// block: when the queue is full they leave a callback that is called once
// there is room (or the channel closes), so a network thread can stop reading
// instead of waiting. Consumers block in pop().
template <typename T>
class bounded_channel {
 public:
    enum class push_result { pushed, full, closed };
    // now: a waiting consumer is woken by the push itself. deferred: the caller
    // pushes several items and then calls wake_consumer() once, so a burst of
    // pushes costs one wake-up (one context switch) instead of one each.
    enum class wake { now, deferred };
    // Move-only: a callback holding a shared_ptr fits its inline storage, so
    // offering a batch allocates nothing.
    using room_callback = std::move_only_function<void()>;

    explicit bounded_channel(std::size_t capacity) : capacity_(capacity) {}

    // Moves `item` in and returns pushed; or, when full, leaves `item` with the
    // caller, keeps `on_room` to call once from a consumer after a slot frees,
    // and returns full; or returns closed.
    push_result push_or_wait(T& item, room_callback on_room, wake when = wake::now) {
        bool notify = false;
        {
            std::lock_guard lock(mutex_);
            if (closed_) return push_result::closed;
            if (items_.size() >= capacity_) {
                waiters_.push_back(std::move(on_room));
                return push_result::full;
            }
            items_.push_back(std::move(item));
            notify = when == wake::now && claim_wake();
        }
        if (notify) not_empty_.notify_one();
        return push_result::pushed;
    }

    // Wakes a consumer for the items pushed with wake::deferred.
    void wake_consumer() {
        bool notify;
        {
            std::lock_guard lock(mutex_);
            notify = claim_wake();
        }
        if (notify) not_empty_.notify_one();
    }

    // Blocks until an item is there, then moves up to `max` items into `out`
    // and returns true; returns false once the channel is closed and empty, or
    // at `deadline`. Items left over wake another consumer.
    bool pop_some(std::vector<T>& out, std::size_t max,
                  std::chrono::steady_clock::time_point deadline =
                      std::chrono::steady_clock::time_point::max()) {
        std::vector<room_callback> room_made;
        bool wake_next;
        {
            std::unique_lock lock(mutex_);
            while (items_.empty() && !closed_) {
                ++sleeping_;
                const bool timed_out =
                    deadline == std::chrono::steady_clock::time_point::max()
                        ? (not_empty_.wait(lock), false)
                        : not_empty_.wait_until(lock, deadline) == std::cv_status::timeout;
                --sleeping_;
                wake_pending_ = false;
                if (timed_out && items_.empty()) return false;
            }
            if (items_.empty()) return false;
            const std::size_t taken = std::min(max, items_.size());
            for (std::size_t i = 0; i < taken; ++i) {
                out.push_back(std::move(items_.front()));
                items_.pop_front();
            }
            for (std::size_t i = 0; i < taken && !waiters_.empty(); ++i) {
                room_made.push_back(std::move(waiters_.front()));
                waiters_.pop_front();
            }
            wake_next = !items_.empty() && claim_wake();
        }
        if (wake_next) not_empty_.notify_one();
        for (auto& waiter : room_made) waiter();
        return true;
    }

    // One item, as pop_some().
    std::optional<T> pop_until(std::chrono::steady_clock::time_point deadline) {
        std::vector<T> one;
        if (!pop_some(one, 1, deadline)) return std::nullopt;
        return std::move(one.front());
    }

    // Refuses further pushes and wakes every consumer and waiting producer;
    // items already in stay poppable.
    void close() {
        std::deque<room_callback> waiters;
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
            waiters.swap(waiters_);
        }
        not_empty_.notify_all();
        for (auto& waiter : waiters) waiter();
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return items_.size();
    }

    std::size_t capacity() const noexcept { return capacity_; }

 private:
    // Under the lock: whether to wake a sleeping consumer. One wake-up is on
    // its way at a time; the consumer it wakes takes what is there (up to its
    // max) and wakes the next only if items are left, so a burst of pushes
    // does not wake consumers that would find the queue already emptied.
    bool claim_wake() {
        if (sleeping_ == 0 || wake_pending_) return false;
        wake_pending_ = true;
        return true;
    }

    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable not_empty_;
    std::deque<T> items_;
    std::deque<room_callback> waiters_;
    bool closed_ = false;
    std::size_t sleeping_ = 0;
    bool wake_pending_ = false;
};

}  // namespace raccoon::core
