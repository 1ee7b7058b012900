#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <raccoon/core/ingestor.hpp>
#include <string>
#include <thread>
#include <vector>

namespace raccoon::core {
namespace {

using steady = std::chrono::steady_clock;

// The acks a batch's completion produced; shared so they outlive the batch.
// The deadline thread may add one while the test waits for it, hence the lock.
struct acks {
    std::mutex mutex;
    std::vector<batch_result> results;

    void add(const batch_result& result) {
        std::lock_guard lock(mutex);
        results.push_back(result);
    }

    std::size_t count() {
        std::lock_guard lock(mutex);
        return results.size();
    }
};

std::unique_ptr<batch> make_batch(std::string guid, std::size_t events,
                                  const std::shared_ptr<acks>& seen) {
    auto b = std::make_unique<batch>();
    b->req_guid = std::move(guid);
    for (std::size_t i = 0; i < events; ++i)
        b->events.push_back({"click", "e" + std::to_string(i)});
    b->set_completion([seen](const batch_result& result) { seen->add(result); });
    return b;
}

// What a worker and the publisher do to a batch popped from the channel.
void deliver(batch_channel& channel, const std::vector<batch_result>& per_event) {
    auto popped = channel.pop_until(steady::now());
    ASSERT_TRUE(popped.has_value());
    ASSERT_EQ((*popped)->events.size(), per_event.size());
    batch* b = batch::start_delivery(std::move(*popped));
    for (const auto& result : per_event) b->report_delivery(result.error, result.detail);
}

class ingestor_in_both_modes : public ::testing::TestWithParam<config::ack_mode> {};

TEST(ingestor, on_accept_acks_at_once_even_if_delivery_fails) {
    batch_channel channel(4);
    ingestor in(channel, config::ack_mode::on_accept);
    auto seen = std::make_shared<acks>();
    auto b = make_batch("g1", 3, seen);

    ASSERT_EQ(in.submit(b, [] {}), ingestor::outcome::taken);
    EXPECT_EQ(b, nullptr);
    ASSERT_EQ(seen->results.size(), 1u) << "EVENT_ACK=0 acks on accept, before delivery";
    EXPECT_TRUE(seen->results[0].ok());
    EXPECT_EQ(channel.size(), 1u);

    deliver(channel, {{}, {errc::publish_failed, "broker down"}, {}});
    EXPECT_EQ(seen->results.size(), 1u) << "a failed delivery must not ack a second time";
    EXPECT_EQ(in.undelivered_after_ack(), 3u);
}

TEST(ingestor, on_accept_counts_nothing_when_delivery_succeeds) {
    batch_channel channel(4);
    ingestor in(channel, config::ack_mode::on_accept);
    auto seen = std::make_shared<acks>();
    auto b = make_batch("g1", 2, seen);
    ASSERT_EQ(in.submit(b, [] {}), ingestor::outcome::taken);
    deliver(channel, {{}, {}});
    EXPECT_EQ(seen->results.size(), 1u);
    EXPECT_EQ(in.undelivered_after_ack(), 0u);
}

TEST(ingestor, on_delivery_acks_only_after_delivery_with_its_error) {
    batch_channel channel(4);
    ingestor in(channel, config::ack_mode::on_delivery);
    auto seen = std::make_shared<acks>();
    auto b = make_batch("g1", 2, seen);

    ASSERT_EQ(in.submit(b, [] {}), ingestor::outcome::taken);
    EXPECT_EQ(b, nullptr);
    EXPECT_TRUE(seen->results.empty()) << "EVENT_ACK=1 waits for the broker";

    deliver(channel, {{errc::publish_failed, "Broker: Topic authorization failed"}, {}});
    ASSERT_EQ(seen->results.size(), 1u);
    EXPECT_EQ(seen->results[0].error, errc::publish_failed);
    EXPECT_EQ(seen->results[0].detail, "Broker: Topic authorization failed");
    EXPECT_EQ(in.undelivered_after_ack(), 0u);
}

TEST(ingestor, on_delivery_acks_success_after_delivery) {
    batch_channel channel(4);
    ingestor in(channel, config::ack_mode::on_delivery);
    auto seen = std::make_shared<acks>();
    auto b = make_batch("g1", 2, seen);
    ASSERT_EQ(in.submit(b, [] {}), ingestor::outcome::taken);
    deliver(channel, {{}, {}});
    ASSERT_EQ(seen->results.size(), 1u);
    EXPECT_TRUE(seen->results[0].ok());
}

TEST_P(ingestor_in_both_modes, full_keeps_the_batch_with_the_caller_and_calls_back_on_room) {
    batch_channel channel(1);
    ingestor in(channel, GetParam());
    auto first_seen = std::make_shared<acks>();
    auto first = make_batch("first", 1, first_seen);
    ASSERT_EQ(in.submit(first, [] {}), ingestor::outcome::taken);

    auto seen = std::make_shared<acks>();
    auto b = make_batch("second", 2, seen);
    int room_calls = 0;
    ASSERT_EQ(in.submit(b, [&room_calls] { ++room_calls; }), ingestor::outcome::full);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->req_guid, "second");
    EXPECT_EQ(b->events.size(), 2u);
    EXPECT_TRUE(seen->results.empty()) << "a refused batch is not acked";
    EXPECT_EQ(room_calls, 0);

    deliver(channel, {{}});
    EXPECT_EQ(room_calls, 1);

    // The retry is accepted and acked as its mode says, once.
    ASSERT_EQ(in.submit(b, [&room_calls] { ++room_calls; }), ingestor::outcome::taken);
    deliver(channel, {{}, {}});
    ASSERT_EQ(seen->results.size(), 1u);
    EXPECT_TRUE(seen->results[0].ok());
    EXPECT_EQ(room_calls, 1);
}

TEST_P(ingestor_in_both_modes, full_batch_keeps_its_own_completion) {
    batch_channel channel(1);
    ingestor in(channel, GetParam());
    auto filler_seen = std::make_shared<acks>();
    auto filler = make_batch("filler", 1, filler_seen);
    ASSERT_EQ(in.submit(filler, [] {}), ingestor::outcome::taken);

    auto seen = std::make_shared<acks>();
    auto b = make_batch("kept", 1, seen);
    ASSERT_EQ(in.submit(b, [] {}), ingestor::outcome::full);
    // The caller may give up on it (e.g. its connection closed): its own ack must run.
    batch::fail(std::move(b), {errc::shutting_down, "gave up"});
    ASSERT_EQ(seen->results.size(), 1u);
    EXPECT_EQ(seen->results[0].error, errc::shutting_down);
    EXPECT_EQ(in.undelivered_after_ack(), 0u);
    channel.close();
}

// WORKER_BUFFER_MAX_BYTES: under EVENT_ACK=0 too, a batch acked at once
// holds its bytes until its delivery, so what the server holds stays bounded.
TEST_P(ingestor_in_both_modes, a_batch_past_the_bytes_bound_waits_for_a_delivery) {
    auto first_seen = std::make_shared<acks>();
    auto first = make_batch("first", 3, first_seen);
    batch_channel channel(100, first->memory_bytes());
    ingestor in(channel, GetParam());
    ASSERT_EQ(in.submit(first, [] {}), ingestor::outcome::taken);

    auto seen = std::make_shared<acks>();
    auto b = make_batch("second", 3, seen);
    int room_calls = 0;
    ASSERT_EQ(in.submit(b, [&room_calls] { ++room_calls; }), ingestor::outcome::full);
    EXPECT_EQ(channel.size(), 1u) << "the channel has room; the bytes are the bound";
    auto popped = channel.pop_until(steady::now());
    ASSERT_TRUE(popped.has_value());
    EXPECT_EQ(room_calls, 0) << "taken by a worker is not delivered";

    batch* delivering = batch::start_delivery(std::move(*popped));
    delivering->report_deliveries(3);
    EXPECT_EQ(room_calls, 1);
    ASSERT_EQ(in.submit(b, [] {}), ingestor::outcome::taken);
    deliver(channel, {{}, {}, {}});
    ASSERT_EQ(seen->results.size(), 1u);
    EXPECT_TRUE(seen->results[0].ok());
    EXPECT_EQ(channel.bytes_held(), 0u);
}

TEST_P(ingestor_in_both_modes, closed_channel_answers_the_batch_with_shutting_down) {
    batch_channel channel(4);
    channel.close();
    ingestor in(channel, GetParam());
    auto seen = std::make_shared<acks>();
    auto b = make_batch("late", 2, seen);
    int room_calls = 0;
    ASSERT_EQ(in.submit(b, [&room_calls] { ++room_calls; }), ingestor::outcome::taken);
    EXPECT_EQ(b, nullptr);
    ASSERT_EQ(seen->results.size(), 1u);
    EXPECT_EQ(seen->results[0].error, errc::shutting_down);
    EXPECT_EQ(room_calls, 0);
    EXPECT_EQ(channel.size(), 0u);
    EXPECT_EQ(in.undelivered_after_ack(), 0u);
}

INSTANTIATE_TEST_SUITE_P(ingestor, ingestor_in_both_modes,
                         ::testing::Values(config::ack_mode::on_accept,
                                           config::ack_mode::on_delivery),
                         [](const auto& info) {
                             return info.param == config::ack_mode::on_accept
                                        ? std::string("on_accept")
                                        : std::string("on_delivery");
                         });

TEST(ingestor, on_delivery_acks_an_error_at_the_deadline_and_once_only) {
    batch_channel channel(4);
    ingestor in(channel, config::ack_mode::on_delivery, nullptr, std::chrono::milliseconds(30));
    auto seen = std::make_shared<acks>();
    auto b = make_batch("g-late", 2, seen);
    ASSERT_EQ(in.submit(b, [] {}), ingestor::outcome::taken);
    const auto limit = steady::now() + std::chrono::seconds(5);
    while (seen->count() == 0 && steady::now() < limit) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(seen->results.size(), 1u) << "no ack by the deadline";
    EXPECT_EQ(seen->results[0].error, make_error_code(errc::publish_failed));
    // The delivery after the deadline acks nothing more.
    deliver(channel, {{}, {}});
    EXPECT_EQ(seen->results.size(), 1u);
    in.stop_deadlines();
}

TEST(ingestor, on_delivery_refuses_at_once_while_the_destination_is_down) {
    batch_channel channel(4);
    ingestor in(channel, config::ack_mode::on_delivery, nullptr, std::chrono::milliseconds(10000));
    in.set_destination_reachable(false);
    auto seen = std::make_shared<acks>();
    auto b = make_batch("g-down", 2, seen);
    ASSERT_EQ(in.submit(b, [] {}), ingestor::outcome::taken);
    ASSERT_EQ(seen->results.size(), 1u);
    EXPECT_EQ(seen->results[0].error, make_error_code(errc::publish_failed));
    EXPECT_EQ(channel.size(), 0u);
    in.set_destination_reachable(true);
    b = make_batch("g-up", 1, seen);
    ASSERT_EQ(in.submit(b, [] {}), ingestor::outcome::taken);
    deliver(channel, {{}});
    ASSERT_EQ(seen->results.size(), 2u);
    EXPECT_TRUE(seen->results[1].ok());
}

}  // namespace
}  // namespace raccoon::core
