#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <raccoon/core/batch_channel.hpp>
#include <string>
#include <thread>
#include <vector>

namespace raccoon::core {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using push_result = batch_channel::push_result;

constexpr auto deadline_for_test = 10s;

std::unique_ptr<batch> make_batch(std::size_t events, std::size_t event_bytes,
                                  std::shared_ptr<std::atomic<int>> acks = nullptr) {
    auto b = std::make_unique<batch>();
    b->req_guid = "guid";
    b->events.reserve(events);
    for (std::size_t i = 0; i < events; ++i) {
        b->events.push_back({"type", std::string(event_bytes, 'x')});
    }
    if (acks) b->set_completion([acks](const batch_result&) { ++*acks; });
    return b;
}

// What the workers and the publisher do with a popped batch: every event
// delivered, after which the batch is destroyed.
void deliver(std::unique_ptr<batch> popped) {
    const std::size_t count = popped->events.size();
    batch* b = batch::start_delivery(std::move(popped));
    b->report_deliveries(count);
}

TEST(batch_memory, counts_each_event_with_its_bookkeeping) {
    const std::size_t empty = make_batch(0, 0)->memory_bytes();
    EXPECT_GE(empty, sizeof(batch));

    // Five-byte events live inside their strings: the event itself is the cost.
    const std::size_t tiny = make_batch(1000, 5)->memory_bytes();
    EXPECT_GE(tiny - empty, 1000 * sizeof(event));
    // The events' vector, with the allocator's rounding (at most a quarter).
    EXPECT_LE(tiny - empty, 1000 * sizeof(event) * 5 / 4);

    // 200-byte events: their bytes too, as the allocator rounds them (208 → 224).
    const std::size_t sized = make_batch(1000, 200)->memory_bytes();
    EXPECT_EQ(sized - tiny, 1000 * 224u);
}

TEST(batch_channel, a_push_past_the_bytes_waits_until_a_batch_is_delivered) {
    const std::size_t cost = make_batch(10, 200)->memory_bytes();
    batch_channel channel(100, 2 * cost);
    for (int i = 0; i < 2; ++i) {
        auto b = make_batch(10, 200);
        ASSERT_EQ(channel.push_or_wait(b, [] {}), push_result::pushed);
    }
    EXPECT_EQ(channel.bytes_held(), 2 * cost);

    int room_calls = 0;
    auto third = make_batch(10, 200);
    ASSERT_EQ(channel.push_or_wait(third, [&room_calls] { ++room_calls; }), push_result::full);
    ASSERT_NE(third, nullptr);

    // Popped is not freed: the publisher holds the batch until its delivery.
    auto popped = channel.pop_until(steady::now());
    ASSERT_TRUE(popped.has_value());
    EXPECT_EQ(room_calls, 0);
    EXPECT_EQ(channel.bytes_held(), 2 * cost);

    deliver(std::move(*popped));
    EXPECT_EQ(room_calls, 1);
    ASSERT_EQ(channel.push_or_wait(third, [] {}), push_result::pushed);
    EXPECT_EQ(channel.bytes_held(), 2 * cost);
    EXPECT_EQ(channel.size(), 2u);
}

TEST(batch_channel, a_batch_failed_before_delivery_gives_its_bytes_back) {
    const std::size_t cost = make_batch(3, 50)->memory_bytes();
    batch_channel channel(100, cost);
    auto b = make_batch(3, 50);
    ASSERT_EQ(channel.push_or_wait(b, [] {}), push_result::pushed);
    auto popped = channel.pop_until(steady::now());
    ASSERT_TRUE(popped.has_value());
    batch::fail(std::move(*popped), {make_error_code(errc::shutting_down), ""});
    EXPECT_EQ(channel.bytes_held(), 0u);
}

TEST(batch_channel, a_batch_waiting_for_a_slot_keeps_the_bytes_it_took) {
    const std::size_t cost = make_batch(4, 100)->memory_bytes();
    batch_channel channel(1, 2 * cost);
    auto first = make_batch(4, 100);
    ASSERT_EQ(channel.push_or_wait(first, [] {}), push_result::pushed);
    int room_calls = 0;
    auto second = make_batch(4, 100);
    ASSERT_EQ(channel.push_or_wait(second, [&room_calls] { ++room_calls; }), push_result::full);
    EXPECT_EQ(second->memory_claim().held(), cost) << "full by count, not by bytes";
    EXPECT_EQ(channel.bytes_held(), 2 * cost);

    auto popped = channel.pop_until(steady::now());
    EXPECT_EQ(room_calls, 1);
    ASSERT_EQ(channel.push_or_wait(second, [] {}), push_result::pushed);
    EXPECT_EQ(channel.bytes_held(), 2 * cost) << "its bytes are not taken twice";
}

// A transport reserves an upper bound of a request's cost before decoding it;
// the push settles the claim to what the batch costs, and a reservation the
// budget cannot give waits like a push, its bytes then held by the batch.
TEST(batch_channel, a_reservation_waits_for_bytes_and_its_push_settles_to_the_cost) {
    const std::size_t cost = make_batch(4, 100)->memory_bytes();
    batch_channel channel(100, 3 * cost);
    auto held = make_batch(4, 100);
    ASSERT_EQ(channel.push_or_wait(held, [] {}), push_result::pushed);

    auto reserved = std::make_unique<batch>();
    batch_channel::room_callback unused = [] {};
    ASSERT_TRUE(channel.reserve_or_wait(*reserved, 2 * cost, unused));
    EXPECT_EQ(channel.bytes_held(), 3 * cost);

    auto waiting = std::make_unique<batch>();
    int room_calls = 0;
    batch_channel::room_callback on_room = [&room_calls] { ++room_calls; };
    ASSERT_FALSE(channel.reserve_or_wait(*waiting, cost, on_room));

    // Decoded, the reserved batch costs less than its bound: its push gives
    // back the rest, which serves the waiting reservation.
    auto decoded = make_batch(4, 100);
    reserved->events = std::move(decoded->events);
    reserved->req_guid = decoded->req_guid;
    ASSERT_EQ(channel.push_or_wait(reserved, [] {}), push_result::pushed);
    EXPECT_EQ(room_calls, 1);
    EXPECT_EQ(waiting->memory_claim().held(), cost);
    EXPECT_EQ(channel.bytes_held(), 3 * cost);

    // A batch that turns out to cost more than its reservation is counted whole.
    waiting->events = make_batch(8, 100)->events;
    const std::size_t larger = waiting->memory_bytes();
    ASSERT_GT(larger, cost);
    ASSERT_EQ(channel.push_or_wait(waiting, [] {}), push_result::pushed);
    EXPECT_EQ(channel.bytes_held(), 2 * cost + larger);
    while (auto popped = channel.pop_until(steady::now())) deliver(std::move(*popped));
    EXPECT_EQ(channel.bytes_held(), 0u);
}

TEST(batch_channel, a_batch_larger_than_the_bytes_bound_goes_through_alone) {
    batch_channel channel(100, 1024);
    auto big = make_batch(100, 100);
    ASSERT_GT(big->memory_bytes(), 1024u);
    ASSERT_EQ(channel.push_or_wait(big, [] {}), push_result::pushed);
    auto small = make_batch(1, 1);
    int room_calls = 0;
    ASSERT_EQ(channel.push_or_wait(small, [&room_calls] { ++room_calls; }), push_result::full);
    deliver(*channel.pop_until(steady::now()));
    EXPECT_EQ(room_calls, 1);
    ASSERT_EQ(channel.push_or_wait(small, [] {}), push_result::pushed);
}

TEST(batch_channel, close_calls_a_push_waiting_for_bytes_and_refuses_it) {
    const std::size_t cost = make_batch(2, 10)->memory_bytes();
    batch_channel channel(100, cost);
    auto first = make_batch(2, 10);
    ASSERT_EQ(channel.push_or_wait(first, [] {}), push_result::pushed);
    int room_calls = 0;
    auto second = make_batch(2, 10);
    ASSERT_EQ(channel.push_or_wait(second, [&room_calls] { ++room_calls; }), push_result::full);
    channel.close();
    EXPECT_EQ(room_calls, 1);
    EXPECT_EQ(channel.push_or_wait(second, [] {}), push_result::closed);
    ASSERT_NE(second, nullptr);
    // What was in stays poppable, with its bytes until delivered.
    auto popped = channel.pop_until(steady::now());
    ASSERT_TRUE(popped.has_value());
    EXPECT_EQ(channel.bytes_held(), cost);
    deliver(std::move(*popped));
    EXPECT_EQ(channel.bytes_held(), 0u);
}

// Producers as transports (a callback when there is room, then the same
// batch offered again), consumers as workers, and a delivery thread as the
// publisher's, which holds batches a while before their reports: everything
// is delivered once and the bytes held never pass the bound.
TEST(batch_channel, producers_workers_and_late_deliveries_lose_nothing_under_a_small_bound) {
    constexpr int producers = 4;
    constexpr int per_producer = 300;
    const std::size_t largest = make_batch(40, 300)->memory_bytes();
    batch_channel channel(64, 3 * largest);
    auto acks = std::make_shared<std::atomic<int>>(0);
    std::atomic<std::size_t> most_held{0};

    std::mutex delivery_mutex;
    std::condition_variable delivery_wakeup;
    std::deque<std::unique_ptr<batch>> in_publisher;
    bool workers_done = false;
    std::thread delivery([&] {
        std::unique_lock lock(delivery_mutex);
        for (;;) {
            delivery_wakeup.wait_for(lock, 1ms);
            while (!in_publisher.empty()) {
                auto b = std::move(in_publisher.front());
                in_publisher.pop_front();
                lock.unlock();
                deliver(std::move(b));
                lock.lock();
            }
            if (workers_done) return;
        }
    });
    std::vector<std::thread> workers;
    for (int w = 0; w < 2; ++w) {
        workers.emplace_back([&] {
            std::vector<std::unique_ptr<batch>> taken;
            while (channel.pop_some(taken, 8)) {
                std::lock_guard lock(delivery_mutex);
                for (auto& b : taken) in_publisher.push_back(std::move(b));
                taken.clear();
            }
        });
    }
    std::vector<std::thread> sources;
    for (int p = 0; p < producers; ++p) {
        sources.emplace_back([&, p] {
            for (int i = 0; i < per_producer; ++i) {
                auto b = make_batch(1 + static_cast<std::size_t>((p + i) % 40),
                                    static_cast<std::size_t>((p * 31 + i * 7) % 301), acks);
                for (int attempt = 0; b && attempt < 10'000; ++attempt) {
                    auto room = std::make_shared<std::atomic<bool>>(false);
                    const auto pushed = channel.push_or_wait(b, [room] {
                        room->store(true);
                        room->notify_one();
                    });
                    if (pushed == push_result::pushed) break;
                    ASSERT_EQ(pushed, push_result::full);
                    room->wait(false);
                }
                ASSERT_EQ(b, nullptr);
                std::size_t held = channel.bytes_held();
                std::size_t most = most_held.load();
                while (held > most && !most_held.compare_exchange_weak(most, held)) {
                }
            }
        });
    }
    for (auto& s : sources) s.join();
    const auto until = steady::now() + deadline_for_test;
    while (acks->load() < producers * per_producer && steady::now() < until) {
        std::this_thread::sleep_for(1ms);
    }
    channel.close();
    for (auto& w : workers) w.join();
    {
        std::lock_guard lock(delivery_mutex);
        workers_done = true;
    }
    delivery.join();
    EXPECT_EQ(acks->load(), producers * per_producer);
    EXPECT_LE(most_held.load(), 3 * largest);
    EXPECT_EQ(channel.bytes_held(), 0u);
}

}  // namespace
}  // namespace raccoon::core
