#include <pthread.h>

#include <raccoon/core/ack_deadline.hpp>
#include <string>
#include <vector>

namespace raccoon::core {

ack_deadlines::ack_deadlines(std::chrono::milliseconds timeout)
    : timeout_(timeout), thread_([this] { run(); }) {}

ack_deadlines::~ack_deadlines() { stop(); }

void ack_deadlines::watch(std::shared_ptr<ack_once> ack) {
    bool was_empty;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        was_empty = pending_.empty();
        pending_.emplace_back(clock::now() + timeout_, std::move(ack));
    }
    if (was_empty) wakeup_.notify_one();
}

void ack_deadlines::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
        pending_.clear();
    }
    wakeup_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void ack_deadlines::run() {
    pthread_setname_np(pthread_self(), "ack-deadlines");
    const batch_result expired{
        make_error_code(errc::publish_failed),
        "the broker is unavailable: no delivery within " + std::to_string(timeout_.count()) +
            " ms (EVENT_ACK_DEADLINE_MS); the events may still be delivered, so a retry may "
            "duplicate them"};
    std::vector<std::shared_ptr<ack_once>> due;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (pending_.empty()) {
            wakeup_.wait(lock);
            continue;
        }
        const auto now = clock::now();
        while (!pending_.empty() && pending_.front().first <= now) {
            due.push_back(std::move(pending_.front().second));
            pending_.pop_front();
        }
        if (due.empty()) {
            wakeup_.wait_until(lock, pending_.front().first);
            continue;
        }
        lock.unlock();
        // Most were given by their delivery long before: a flag each.
        for (auto& ack : due) ack->give(expired);
        due.clear();
        lock.lock();
    }
}

}  // namespace raccoon::core
