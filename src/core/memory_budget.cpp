#include <algorithm>
#include <iterator>
#include <raccoon/core/memory_budget.hpp>
#include <utility>

namespace raccoon::core {
namespace {

// How far past the queue's head a grant looks for small batches that may
// pass, so a release costs a bounded scan however many wait.
constexpr std::size_t passers_looked_at = 64;

// The serve_waiters() calls running on this thread, innermost first.
struct serving_frame {
    const memory_budget* budget;
    bool again;
    serving_frame* outer;
};
thread_local serving_frame* serving = nullptr;

}  // namespace

budget_claim::~budget_claim() {
    if (budget_ != nullptr) budget_->release(*this);
}

bool memory_budget::try_take(std::size_t bytes) noexcept {
    // Sequentially consistent with waiting_: a queued claim either sees the
    // bytes a release gave back, or that release sees it waiting.
    std::size_t held = held_.load(std::memory_order_seq_cst);
    for (;;) {
        const bool fits = held == 0 || (held <= limit_ && bytes <= limit_ - held);
        if (!fits) return false;
        if (held_.compare_exchange_weak(held, held + bytes, std::memory_order_seq_cst)) {
            return true;
        }
    }
}

bool memory_budget::try_pass(std::size_t bytes) noexcept {
    // A head that needs nearly all of the budget must get all that is freed.
    if (bytes > passer_max_bytes_ || waiters_.front().bytes > limit_ - passers_max_held_) {
        return false;
    }
    // Passers are taken under the mutex only, so this check and the add
    // below are not raced by another passer; releases only lower the count.
    if (passers_held_.load(std::memory_order_relaxed) + bytes > passers_max_held_) return false;
    if (!try_take(bytes)) return false;
    passers_held_.fetch_add(bytes, std::memory_order_relaxed);
    return true;
}

memory_budget::take_result memory_budget::take_or_wait(budget_claim& claim, std::size_t bytes,
                                                       room_callback& on_room) {
    if (claim.held_ > 0) return take_result::taken;
    if (closed_.load(std::memory_order_acquire)) return take_result::closed;
    if (waiting_.load(std::memory_order_seq_cst) == 0 && try_take(bytes)) {
        claim.budget_ = this;
        claim.held_ = bytes;
        return take_result::taken;
    }
    room_callback replaced;
    std::lock_guard lock(mutex_);
    if (closed_.load(std::memory_order_relaxed)) return take_result::closed;
    if (claim.queued_) {
        // Offered again before its grant: the newer callback is the one to call.
        const auto queued = std::ranges::find(waiters_, &claim, &waiter::claim);
        replaced = std::exchange(queued->on_room, std::move(on_room));
        return take_result::full;
    }
    claim.budget_ = this;
    claim.ever_queued_ = true;
    if (!waiters_.empty() && try_pass(bytes)) {
        claim.passed_ = true;
        claim.held_ = bytes;
        return take_result::taken;
    }
    const bool head = waiters_.empty();
    claim.queued_ = true;
    waiters_.push_back({&claim, bytes, std::move(on_room)});
    waiting_.fetch_add(1, std::memory_order_seq_cst);
    // A new head is counted as waiting first, then tried again: a release
    // that came after the first try either left bytes this try sees, or saw
    // it waiting and will serve the queue once this lock is free.
    if (!head || !try_take(bytes)) return take_result::full;
    on_room = std::move(waiters_.back().on_room);
    waiters_.pop_back();
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    claim.queued_ = false;
    claim.held_ = bytes;
    return take_result::taken;
}

std::vector<memory_budget::room_callback> memory_budget::grant_locked() {
    std::vector<room_callback> granted;
    auto grant = [this, &granted](std::deque<waiter>::iterator w, bool passed) {
        w->claim->held_ = w->bytes;
        w->claim->queued_ = false;
        w->claim->passed_ = passed;
        granted.push_back(std::move(w->on_room));
        waiting_.fetch_sub(1, std::memory_order_seq_cst);
        return waiters_.erase(w);
    };
    while (!waiters_.empty() && try_take(waiters_.front().bytes)) grant(waiters_.begin(), false);
    if (waiters_.empty()) return granted;
    auto w = std::next(waiters_.begin());
    for (std::size_t looked = 0; w != waiters_.end() && looked < passers_looked_at; ++looked) {
        w = try_pass(w->bytes) ? grant(w, true) : std::next(w);
    }
    return granted;
}

void memory_budget::serve_waiters() {
    for (serving_frame* frame = serving; frame != nullptr; frame = frame->outer) {
        if (frame->budget == this) {
            frame->again = true;
            return;
        }
    }
    serving_frame frame{this, false, serving};
    serving = &frame;
    do {
        frame.again = false;
        std::vector<room_callback> granted;
        {
            std::lock_guard lock(mutex_);
            granted = grant_locked();
        }
        for (auto& on_room : granted) on_room();
    } while (frame.again);
    serving = frame.outer;
}

void memory_budget::release(budget_claim& claim) {
    room_callback dropped;
    if (claim.ever_queued_) {
        std::lock_guard lock(mutex_);
        if (claim.queued_) {
            // Destroyed while it waited: it leaves the queue, and whoever
            // is behind it may now be served.
            const auto queued = std::ranges::find(waiters_, &claim, &waiter::claim);
            dropped = std::move(queued->on_room);
            waiters_.erase(queued);
            waiting_.fetch_sub(1, std::memory_order_seq_cst);
            claim.queued_ = false;
        }
    }
    const std::size_t bytes = std::exchange(claim.held_, 0);
    if (claim.passed_) passers_held_.fetch_sub(bytes, std::memory_order_relaxed);
    if (bytes > 0) held_.fetch_sub(bytes, std::memory_order_seq_cst);
    if (waiting_.load(std::memory_order_seq_cst) > 0) serve_waiters();
}

void memory_budget::settle(budget_claim& claim, std::size_t bytes) {
    const std::size_t held = claim.held_;
    if (held == 0 || bytes == held) return;
    claim.held_ = bytes;
    if (bytes > held) {
        if (claim.passed_) passers_held_.fetch_add(bytes - held, std::memory_order_relaxed);
        held_.fetch_add(bytes - held, std::memory_order_seq_cst);
        return;
    }
    if (claim.passed_) passers_held_.fetch_sub(held - bytes, std::memory_order_relaxed);
    held_.fetch_sub(held - bytes, std::memory_order_seq_cst);
    if (waiting_.load(std::memory_order_seq_cst) > 0) serve_waiters();
}

void memory_budget::close() {
    std::deque<waiter> waiters;
    {
        std::lock_guard lock(mutex_);
        closed_.store(true, std::memory_order_release);
        waiters.swap(waiters_);
        for (auto& w : waiters) w.claim->queued_ = false;
        waiting_.store(0, std::memory_order_seq_cst);
    }
    for (auto& w : waiters) w.on_room();
}

}  // namespace raccoon::core
