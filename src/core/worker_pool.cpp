#include <pthread.h>

#include <raccoon/core/batch_metrics.hpp>
#include <raccoon/core/topic_router.hpp>
#include <raccoon/core/worker_pool.hpp>
#include <raccoon/publisher/publisher.hpp>
#include <string>

namespace raccoon::core {
namespace {

// A worker takes what a burst of pushes left, up to this many batches, per
// wake-up; more left over wakes the next worker, so a multi-core machine still
// publishes in parallel.
constexpr std::size_t batches_per_wake = 32;

}  // namespace

worker_pool::worker_pool(batch_channel& channel, publisher::publisher& publisher,
                         std::string pattern, int size)
    : channel_(channel), publisher_(publisher), pattern_(std::move(pattern)), size_(size) {}

worker_pool::~worker_pool() {
    for (auto& thread : threads_) {
        if (thread.joinable()) thread.join();
    }
}

void worker_pool::start() {
    for (int i = 0; i < size_; ++i) {
        threads_.emplace_back([this, i] { run(static_cast<std::size_t>(i)); });
    }
}

void worker_pool::run(std::size_t index) {
    const worker_metrics& worker = worker_metrics_for(index);
    pthread_setname_np(pthread_self(), worker.label.substr(0, 15).c_str());
    topic_router router(pattern_);
    std::vector<std::unique_ptr<batch>> taken;
    taken.reserve(batches_per_wake);
    while (channel_.pop_some(taken, batches_per_wake)) {
        for (auto& b : taken) {
            record_batch_taken(*b, worker);
            router.begin_batch();
            for (auto& e : b->events) e.topic = &router.topic_for(e.type);
            publisher_.publish(std::move(b));
        }
        taken.clear();
    }
    {
        std::lock_guard lock(finished_mutex_);
        ++finished_;
    }
    finished_changed_.notify_all();
}

std::size_t worker_pool::drain(std::chrono::milliseconds timeout) {
    bool drained;
    {
        std::unique_lock lock(finished_mutex_);
        drained = finished_changed_.wait_for(lock, timeout, [this] { return finished_ == size_; });
    }
    std::size_t failed = 0;
    if (!drained) {
        publisher_.stop_waiting();
        while (auto left = channel_.pop_until(std::chrono::steady_clock::now())) {
            batch::fail(std::move(*left),
                        {make_error_code(errc::shutting_down), "not published before shutdown"});
            ++failed;
        }
    }
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    return failed;
}

}  // namespace raccoon::core
