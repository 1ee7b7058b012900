#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace raccoon::server::http {

// Something the pinger visits once per ping interval.
class ping_target {
 public:
    virtual ~ping_target() = default;
    // Called from the pinger's timer; the target hops to its own loop.
    virtual void on_ping_due() = 0;
};

// Pings every registered connection once per interval with one timer for
// all of them: a wheel of slots, one slot visited per tick, so the pings of
// 100k connections spread evenly over the interval instead of firing in
// lockstep, and an idle connection costs no timer of its own.
class pinger : public std::enable_shared_from_this<pinger> {
 public:
    // `executor` must run on one thread (or be a strand): the timer is used from it only.
    pinger(boost::asio::any_io_executor executor, std::chrono::milliseconds interval,
           std::size_t slots = 64);

    void start();
    void stop();

    // Returns the slot to pass to remove().
    std::size_t add(const std::shared_ptr<ping_target>& target);
    void remove(std::size_t slot, const ping_target* target);

 private:
    void schedule();
    void tick();

    boost::asio::steady_timer timer_;
    const std::chrono::steady_clock::duration tick_interval_;
    std::mutex mutex_;
    std::vector<std::unordered_map<const ping_target*, std::weak_ptr<ping_target>>> slots_;
    std::size_t next_tick_slot_ = 0;
    std::size_t next_add_slot_ = 0;
    bool stopped_ = false;
};

}  // namespace raccoon::server::http
