#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

namespace raccoon::core {

class memory_budget;

// What one batch holds of a memory_budget, or its place in the budget's queue
// while it waits. It lives in the batch and gives its bytes back when the
// batch is destroyed: after its last delivery report, or when it fails.
class budget_claim {
 public:
    budget_claim() = default;
    ~budget_claim();
    budget_claim(const budget_claim&) = delete;
    budget_claim& operator=(const budget_claim&) = delete;

    // Bytes held; zero before the budget granted them. Read it on the
    // thread that offers the batch.
    std::size_t held() const noexcept { return held_; }

 private:
    friend class memory_budget;

    memory_budget* budget_ = nullptr;
    // Written by the budget, under its mutex, when it grants a waiting claim;
    // otherwise by the thread that offers the batch.
    std::size_t held_ = 0;
    // Under the budget's mutex: in its queue now.
    bool queued_ = false;
    // Set by the offering thread: it was queued once, so its release must
    // look at the queue under the mutex.
    bool ever_queued_ = false;
    // Its bytes were taken past the queue, and count toward what passers hold.
    bool passed_ = false;
};

// A budget of bytes shared by every batch between its offer and its
// destruction (WORKER_BUFFER_MAX_BYTES). A batch takes its cost when it is
// offered and gives it back when it is destroyed. When the budget cannot
// take it, the batch waits in a queue and the caller leaves a callback, as
// with a full bounded_channel; once the bytes are there they are granted to
// the batch itself, then the callback is called, so the retried offer finds
// them held.
//
// Order: the queue is served head first, so a large batch is not starved by
// a stream of smaller ones. A small batch (at most 1/64 of the budget) may
// pass the queue while the batches that passed hold at most 1/8 of the
// budget: a well-behaved client's batches are not stuck behind a burst of
// huge ones, and the head still gets its bytes once the batches taken before
// it are gone (a head needing more than 7/8 of the budget lets none pass). A
// batch costing more than the whole budget is taken when nothing else is held.
//
// Nothing waits on a lock: takes and releases are atomic counts, and the
// queue's mutex is taken only while some batch waits.
class memory_budget {
 public:
    enum class take_result { taken, full, closed };
    using room_callback = std::move_only_function<void()>;

    explicit memory_budget(std::size_t limit)
        : limit_(limit), passer_max_bytes_(limit / 64), passers_max_held_(limit / 8) {}
    memory_budget(const memory_budget&) = delete;
    memory_budget& operator=(const memory_budget&) = delete;

    // Takes `bytes` for `claim` and returns taken (at once when the claim
    // already holds its bytes); or queues the claim, moves `on_room` out to
    // call it once the bytes are granted (or the budget closes) and returns
    // full; or returns closed. A queued claim must stay alive until then or
    // until it is destroyed, which takes it out of the queue.
    take_result take_or_wait(budget_claim& claim, std::size_t bytes, room_callback& on_room);

    // Makes a claim that holds bytes hold `bytes` instead: a cost taken as an
    // upper bound before it was known gives back what it did not need (and
    // serves the queue with it), and a cost found larger is taken whatever
    // the budget holds, since the memory is in use already.
    void settle(budget_claim& claim, std::size_t bytes);

    // Refuses further takes and calls every waiting claim's callback, with
    // nothing granted. Claims already held keep their bytes until released.
    void close();

    // Bytes held now by every claim.
    std::size_t held() const noexcept { return held_.load(std::memory_order_relaxed); }
    std::size_t limit() const noexcept { return limit_; }
    // Claims waiting now.
    std::size_t waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }

 private:
    friend class budget_claim;

    struct waiter {
        budget_claim* claim;
        std::size_t bytes;
        room_callback on_room;
    };

    // Adds `bytes` to what is held if that stays within the limit; with
    // nothing held, a batch larger than the limit is taken too.
    bool try_take(std::size_t bytes) noexcept;
    // Under the mutex, with a queue: takes `bytes` past the queue's head if
    // the batch is small and what passers hold allows it.
    bool try_pass(std::size_t bytes) noexcept;
    // Under the mutex: grants what the held bytes allow, head first, and
    // returns the callbacks to call once the mutex is released.
    std::vector<room_callback> grant_locked();
    // Grants what it can and calls the callbacks, again while they free
    // bytes on this thread; a nested call on the same thread only asks the
    // running one to look again, so a chain of releases never recurses.
    void serve_waiters();
    void release(budget_claim& claim);

    const std::size_t limit_;
    // A batch at most this big may pass the queue ...
    const std::size_t passer_max_bytes_;
    // ... while the batches that passed hold at most this much.
    const std::size_t passers_max_held_;
    std::atomic<std::size_t> held_{0};
    std::atomic<std::size_t> passers_held_{0};
    std::atomic<std::size_t> waiting_{0};
    std::atomic<bool> closed_{false};
    std::mutex mutex_;
    std::deque<waiter> waiters_;
};

}  // namespace raccoon::core
