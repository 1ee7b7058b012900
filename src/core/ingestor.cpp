#include <spdlog/spdlog.h>

#include <raccoon/core/batch_metrics.hpp>
#include <raccoon/core/ingestor.hpp>
#include <raccoon/core/request_error_log.hpp>

namespace raccoon::core {

ingestor::ingestor(batch_channel& channel, config::ack_mode mode, topic_policy* topics,
                   std::chrono::milliseconds ack_deadline)
    : channel_(channel), mode_(mode), topics_(topics) {
    if (mode_ == config::ack_mode::on_delivery && ack_deadline.count() > 0) {
        deadlines_ = std::make_unique<ack_deadlines>(ack_deadline);
    }
}

ingestor::outcome ingestor::submit(std::unique_ptr<batch>& b, batch_channel::room_callback on_room,
                                   batch_channel::wake when) {
    auto to_outcome = [&b](batch_channel::push_result r) {
        switch (r) {
            case batch_channel::push_result::pushed:
                return outcome::taken;
            case batch_channel::push_result::full:
                return outcome::full;
            case batch_channel::push_result::closed:
                break;
        }
        batch::fail(std::move(b), {make_error_code(errc::shutting_down), ""});
        return outcome::taken;
    };

    if (topics_ != nullptr) {
        if (auto refused = topics_->check(*b); !refused.ok()) {
            request_error_log().warn("batch {} refused: {}", b->req_guid, refused.detail);
            batch::fail(std::move(b), refused);
            return outcome::taken;
        }
    }

    if (mode_ == config::ack_mode::on_delivery) {
        if (destination_down_.load(std::memory_order_relaxed)) {
            batch::fail(std::move(b), {make_error_code(errc::publish_failed),
                                       "the broker is unavailable; nothing of the batch was "
                                       "published, so it may be retried"});
            return outcome::taken;
        }
        if (!deadlines_) return to_outcome(channel_.push_or_wait(b, std::move(on_room), when));
        // Given by the delivery or the deadline, whichever is first. Only a
        // batch in the channel has a deadline: one waiting for room holds
        // its connection's reading, which is the client's backpressure.
        auto ack = std::make_shared<ack_once>(b->take_completion());
        b->set_completion([ack](const batch_result& result) { ack->give(result); });
        const auto pushed = channel_.push_or_wait(b, std::move(on_room), when);
        if (pushed == batch_channel::push_result::pushed) {
            deadlines_->watch(std::move(ack));
            return outcome::taken;
        }
        b->set_completion(ack->take());
        return to_outcome(pushed);
    }

    batch::completion ack = b->take_completion();
    // A batch calls its completion while it still exists, so the pointer is
    // safe there and spares copying its guid for the rare failure.
    b->set_completion([this, failed = b.get()](const batch_result& result) {
        if (result.ok()) return;
        undelivered_after_ack_.fetch_add(failed->events.size(), std::memory_order_relaxed);
        count_undelivered_after_ack(*failed);
        undelivered_log().warn("batch {} was acked but not delivered: {}: {}", failed->req_guid,
                               result.error.message(), result.detail);
    });
    switch (channel_.push_or_wait(b, std::move(on_room), when)) {
        case batch_channel::push_result::pushed:
            ack(batch_result{});
            return outcome::taken;
        case batch_channel::push_result::full:
            b->set_completion(std::move(ack));
            return outcome::full;
        case batch_channel::push_result::closed:
            break;
    }
    b->set_completion(std::move(ack));
    batch::fail(std::move(b), {make_error_code(errc::shutting_down), ""});
    return outcome::taken;
}

}  // namespace raccoon::core
