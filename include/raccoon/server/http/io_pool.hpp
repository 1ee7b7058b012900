#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

namespace raccoon::server::http {

// SERVER_IO_THREADS event loops, one thread each. A connection stays on the
// loop it was given for its whole life, so its handlers never run at the same
// time and need no strand: no strand locking, no type-erased executor copied
// per operation, and one thread's epoll set per connection.
class io_pool {
 public:
    explicit io_pool(int threads);
    ~io_pool();

    io_pool(const io_pool&) = delete;
    io_pool& operator=(const io_pool&) = delete;

    // The loop of listeners, signals and timers.
    boost::asio::io_context& first() { return *loops_.front(); }
    // The loop for a new connection: each in turn.
    boost::asio::io_context& next();
    std::size_t size() const noexcept { return loops_.size(); }

    // Starts one thread per loop (named io-N). Loops keep running with no I/O
    // pending, so acks posted during a drain are still written, until stop().
    void run();
    void stop();

 private:
    using work_guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;

    std::vector<std::unique_ptr<boost::asio::io_context>> loops_;
    std::vector<work_guard> keep_running_;
    std::vector<std::thread> threads_;
    std::atomic<std::size_t> next_{0};
};

}  // namespace raccoon::server::http
