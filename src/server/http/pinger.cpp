#include "pinger.hpp"

#include <boost/asio/post.hpp>

namespace raccoon::server::http {

pinger::pinger(boost::asio::any_io_executor executor, std::chrono::milliseconds interval,
               std::size_t slots)
    : timer_(executor),
      tick_interval_(std::max<std::chrono::steady_clock::duration>(
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval) /
              static_cast<long>(slots),
          std::chrono::milliseconds(1))),
      slots_(slots) {}

void pinger::start() { schedule(); }

void pinger::stop() {
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
    }
    // The timer belongs to the pinger's executor.
    boost::asio::post(timer_.get_executor(),
                      [self = shared_from_this()] { self->timer_.cancel(); });
}

std::size_t pinger::add(const std::shared_ptr<ping_target>& target) {
    std::lock_guard lock(mutex_);
    std::size_t slot = next_add_slot_;
    next_add_slot_ = (next_add_slot_ + 1) % slots_.size();
    slots_[slot].emplace(target.get(), target);
    return slot;
}

void pinger::remove(std::size_t slot, const ping_target* target) {
    std::lock_guard lock(mutex_);
    slots_[slot].erase(target);
}

void pinger::schedule() {
    timer_.expires_after(tick_interval_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
        if (!error) self->tick();
    });
}

void pinger::tick() {
    std::vector<std::shared_ptr<ping_target>> due;
    {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
        auto& slot = slots_[next_tick_slot_];
        next_tick_slot_ = (next_tick_slot_ + 1) % slots_.size();
        due.reserve(slot.size());
        for (auto& [key, weak] : slot) {
            if (auto target = weak.lock()) due.push_back(std::move(target));
        }
    }
    for (auto& target : due) target->on_ping_due();
    schedule();
}

}  // namespace raccoon::server::http
