#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <raccoon/core/batch_channel.hpp>
#include <string>
#include <thread>
#include <vector>

namespace raccoon::publisher {
class publisher;
}  // namespace raccoon::publisher

namespace raccoon::core {

// WORKER_POOL_SIZE threads that pop batches, route each event to its topic
// and hand the batch to the publisher.
class worker_pool {
 public:
    worker_pool(batch_channel& channel, publisher::publisher& publisher, std::string pattern,
                int size);
    ~worker_pool();

    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    void start();

    // Once the channel is closed: gives the workers up to `timeout` to empty
    // it, then makes the publisher stop waiting for room, fails the batches
    // still in the channel and joins. Returns how many batches were failed.
    std::size_t drain(std::chrono::milliseconds timeout);

 private:
    void run(std::size_t index);

    batch_channel& channel_;
    publisher::publisher& publisher_;
    std::string pattern_;
    int size_;
    std::vector<std::thread> threads_;
    std::mutex finished_mutex_;
    std::condition_variable finished_changed_;
    int finished_ = 0;
};

}  // namespace raccoon::core
