#pragma once

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
    using room_callback = std::function<void()>;

    explicit bounded_channel(std::size_t capacity) : capacity_(capacity) {}

    // Moves `item` in and returns pushed; or, when full, leaves `item` with the
    // caller, keeps `on_room` to call once from a consumer after a slot frees,
    // and returns full; or returns closed.
    push_result push_or_wait(T& item, room_callback on_room) {
        {
            std::lock_guard lock(mutex_);
            if (closed_) return push_result::closed;
            if (items_.size() >= capacity_) {
                waiters_.push_back(std::move(on_room));
                return push_result::full;
            }
            items_.push_back(std::move(item));
        }
        not_empty_.notify_one();
        return push_result::pushed;
    }

    // Blocks until an item is there, or returns nullopt once the channel is
    // closed and empty.
    std::optional<T> pop() { return pop_until(std::chrono::steady_clock::time_point::max()); }

    // As pop(), but gives up at `deadline`.
    std::optional<T> pop_until(std::chrono::steady_clock::time_point deadline) {
        room_callback waiter;
        std::optional<T> item;
        {
            std::unique_lock lock(mutex_);
            auto ready = [&] { return !items_.empty() || closed_; };
            if (deadline == std::chrono::steady_clock::time_point::max()) {
                not_empty_.wait(lock, ready);
            } else if (!not_empty_.wait_until(lock, deadline, ready)) {
                return std::nullopt;
            }
            if (items_.empty()) return std::nullopt;
            item.emplace(std::move(items_.front()));
            items_.pop_front();
            if (!waiters_.empty()) {
                waiter = std::move(waiters_.front());
                waiters_.pop_front();
            }
        }
        if (waiter) waiter();
        return item;
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
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable not_empty_;
    std::deque<T> items_;
    std::deque<room_callback> waiters_;
    bool closed_ = false;
};

}  // namespace raccoon::core
