#include <pthread.h>

#include <raccoon/server/http/io_pool.hpp>
#include <string>

namespace raccoon::server::http {

io_pool::io_pool(int threads) {
    for (int i = 0; i < threads; ++i) {
        // Only the loop's own thread does I/O on its sockets, so the reactor's
        // per-socket lock is off; posting from other threads (acks) and
        // registering sockets accepted on the first loop stay locked.
        loops_.push_back(
            std::make_unique<boost::asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO));
    }
}

io_pool::~io_pool() { stop(); }

boost::asio::io_context& io_pool::next() {
    return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

void io_pool::run() {
    for (std::size_t i = 0; i < loops_.size(); ++i) {
        keep_running_.push_back(boost::asio::make_work_guard(*loops_[i]));
        threads_.emplace_back([loop = loops_[i].get(), i] {
            const std::string name = "io-" + std::to_string(i);
            pthread_setname_np(pthread_self(), name.c_str());
            loop->run();
        });
    }
}

void io_pool::stop() {
    keep_running_.clear();
    for (auto& loop : loops_) loop->stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
}

}  // namespace raccoon::server::http
