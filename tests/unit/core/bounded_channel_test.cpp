#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <future>
#include <memory>
#include <mutex>
#include <raccoon/core/bounded_channel.hpp>
#include <thread>
#include <vector>

namespace raccoon::core {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using int_channel = bounded_channel<int>;

// Generous bound for anything that should happen at once; a hang fails instead of blocking ctest.
constexpr auto deadline_for_test = 10s;

TEST(bounded_channel, pops_in_fifo_order) {
    int_channel channel(8);
    for (int i = 0; i < 5; ++i) {
        int item = i;
        ASSERT_EQ(channel.push_or_wait(item, [] {}), int_channel::push_result::pushed);
    }
    EXPECT_EQ(channel.size(), 5u);
    for (int i = 0; i < 5; ++i) {
        auto item = channel.pop_until(steady::now());
        ASSERT_TRUE(item.has_value());
        EXPECT_EQ(*item, i);
    }
    EXPECT_EQ(channel.size(), 0u);
}

TEST(bounded_channel, refuses_past_capacity_and_leaves_item_with_caller) {
    bounded_channel<std::unique_ptr<int>> channel(2);
    EXPECT_EQ(channel.capacity(), 2u);
    for (int i = 0; i < 2; ++i) {
        auto item = std::make_unique<int>(i);
        ASSERT_EQ(channel.push_or_wait(item, [] {}), decltype(channel)::push_result::pushed);
        EXPECT_EQ(item, nullptr);
    }
    auto extra = std::make_unique<int>(42);
    EXPECT_EQ(channel.push_or_wait(extra, [] {}), decltype(channel)::push_result::full);
    ASSERT_NE(extra, nullptr);
    EXPECT_EQ(*extra, 42);
    EXPECT_EQ(channel.size(), 2u);
}

TEST(bounded_channel, full_calls_room_callback_exactly_once_after_a_pop) {
    int_channel channel(2);
    for (int i = 0; i < 2; ++i) {
        int item = i;
        ASSERT_EQ(channel.push_or_wait(item, [] {}), int_channel::push_result::pushed);
    }
    int calls = 0;
    int extra = 2;
    ASSERT_EQ(channel.push_or_wait(extra, [&calls] { ++calls; }), int_channel::push_result::full);
    EXPECT_EQ(calls, 0);

    ASSERT_EQ(channel.pop_until(steady::now()), 0);
    EXPECT_EQ(calls, 1);
    // There is room now: the retry goes in.
    ASSERT_EQ(channel.push_or_wait(extra, [] {}), int_channel::push_result::pushed);

    ASSERT_EQ(channel.pop_until(steady::now()), 1);
    ASSERT_EQ(channel.pop_until(steady::now()), 2);
    channel.close();
    EXPECT_EQ(calls, 1);
}

TEST(bounded_channel, each_pop_wakes_one_waiting_producer_in_order) {
    int_channel channel(1);
    int first = 0;
    ASSERT_EQ(channel.push_or_wait(first, [] {}), int_channel::push_result::pushed);
    std::vector<int> woken;
    for (int i = 1; i <= 3; ++i) {
        int item = i;
        ASSERT_EQ(channel.push_or_wait(item, [&woken, i] { woken.push_back(i); }),
                  int_channel::push_result::full);
    }
    ASSERT_TRUE(channel.pop_until(steady::now()).has_value());
    EXPECT_EQ(woken, (std::vector<int>{1}));
    int retry = 1;
    ASSERT_EQ(channel.push_or_wait(retry, [] {}), int_channel::push_result::pushed);
    ASSERT_TRUE(channel.pop_until(steady::now()).has_value());
    EXPECT_EQ(woken, (std::vector<int>{1, 2}));
}

TEST(bounded_channel, close_wakes_blocked_consumers) {
    int_channel channel(4);
    std::vector<std::future<std::optional<int>>> consumers;
    for (int i = 0; i < 3; ++i) {
        // pop_until with a far deadline rather than pop(), so a broken close() fails the
        // test instead of hanging it.
        consumers.push_back(std::async(std::launch::async, [&channel] {
            return channel.pop_until(steady::now() + 2 * deadline_for_test);
        }));
    }
    // The consumers have nothing to pop; none may return before the close.
    EXPECT_EQ(consumers[0].wait_for(50ms), std::future_status::timeout);
    channel.close();
    for (auto& consumer : consumers) {
        ASSERT_EQ(consumer.wait_for(deadline_for_test), std::future_status::ready);
        EXPECT_FALSE(consumer.get().has_value());
    }
}

TEST(bounded_channel, close_calls_waiting_producers_callbacks_and_refuses_pushes) {
    int_channel channel(1);
    int first = 0;
    ASSERT_EQ(channel.push_or_wait(first, [] {}), int_channel::push_result::pushed);
    int calls_a = 0;
    int calls_b = 0;
    int a = 1;
    int b = 2;
    ASSERT_EQ(channel.push_or_wait(a, [&calls_a] { ++calls_a; }), int_channel::push_result::full);
    ASSERT_EQ(channel.push_or_wait(b, [&calls_b] { ++calls_b; }), int_channel::push_result::full);

    channel.close();
    EXPECT_EQ(calls_a, 1);
    EXPECT_EQ(calls_b, 1);

    int late_calls = 0;
    int late = 3;
    EXPECT_EQ(channel.push_or_wait(late, [&late_calls] { ++late_calls; }),
              int_channel::push_result::closed);
    // A pop after the close frees a slot but has no waiter left to call.
    EXPECT_EQ(channel.pop_until(steady::now()), 0);
    EXPECT_EQ(calls_a, 1);
    EXPECT_EQ(calls_b, 1);
    EXPECT_EQ(late_calls, 0);
}

TEST(bounded_channel, items_pushed_before_close_still_pop) {
    int_channel channel(4);
    for (int i = 0; i < 3; ++i) {
        int item = i;
        ASSERT_EQ(channel.push_or_wait(item, [] {}), int_channel::push_result::pushed);
    }
    channel.close();
    std::vector<int> popped;
    EXPECT_TRUE(channel.pop_some(popped, 2));
    EXPECT_TRUE(channel.pop_some(popped, 2));
    EXPECT_EQ(popped, (std::vector<int>{0, 1, 2}));
    EXPECT_FALSE(channel.pop_some(popped, 2));
    EXPECT_FALSE(channel.pop_until(steady::now() + 1s).has_value());
}

TEST(bounded_channel, pop_some_takes_at_most_max_and_makes_room_for_as_many) {
    int_channel channel(3);
    for (int i = 0; i < 3; ++i) {
        int item = i;
        ASSERT_EQ(channel.push_or_wait(item, [] {}), int_channel::push_result::pushed);
    }
    int calls = 0;
    for (int i = 0; i < 3; ++i) {
        int extra = 10 + i;
        ASSERT_EQ(channel.push_or_wait(extra, [&calls] { ++calls; }),
                  int_channel::push_result::full);
    }
    std::vector<int> popped;
    ASSERT_TRUE(channel.pop_some(popped, 2, steady::now()));
    EXPECT_EQ(popped, (std::vector<int>{0, 1}));
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(channel.size(), 1u);
}

TEST(bounded_channel, deferred_pushes_reach_a_consumer_at_wake) {
    int_channel channel(8);
    std::vector<int> popped;
    const auto started = steady::now();
    std::thread consumer([&] { channel.pop_some(popped, 8, started + deadline_for_test); });
    for (int i = 0; i < 3; ++i) {
        int item = i;
        ASSERT_EQ(channel.push_or_wait(
                      item, [] {}, int_channel::wake::deferred),
                  int_channel::push_result::pushed);
    }
    channel.wake_consumer();
    consumer.join();
    // Woken, not timed out with the items there.
    EXPECT_LT(steady::now() - started, deadline_for_test);
    // The consumer may have woken by itself after the first push; what it took
    // is a prefix, and the rest is still there.
    ASSERT_FALSE(popped.empty());
    std::vector<int> rest;
    while (channel.pop_some(rest, 8, steady::now())) {
    }
    popped.insert(popped.end(), rest.begin(), rest.end());
    EXPECT_EQ(popped, (std::vector<int>{0, 1, 2}));
}

TEST(bounded_channel, pop_until_times_out_on_an_empty_channel) {
    int_channel channel(4);
    const auto start = steady::now();
    EXPECT_FALSE(channel.pop_until(start + 50ms).has_value());
    const auto waited = steady::now() - start;
    EXPECT_GE(waited, 50ms);
    EXPECT_LT(waited, deadline_for_test);
}

TEST(bounded_channel, pop_until_returns_an_item_pushed_while_waiting) {
    int_channel channel(4);
    auto consumer = std::async(std::launch::async, [&channel] {
        return channel.pop_until(steady::now() + deadline_for_test);
    });
    int item = 7;
    ASSERT_EQ(channel.push_or_wait(item, [] {}), int_channel::push_result::pushed);
    ASSERT_EQ(consumer.wait_for(deadline_for_test), std::future_status::ready);
    EXPECT_EQ(consumer.get(), 7);
}

// A producer's wait for its room callback; shared with the callback so that a
// late call after a failed test touches no dead stack frame.
struct room_signal {
    std::mutex mutex;
    std::condition_variable changed;
    int calls = 0;

    void notify() {
        {
            std::lock_guard lock(mutex);
            ++calls;
        }
        changed.notify_one();
    }

    bool wait_for_call(int expected, steady::time_point deadline) {
        std::unique_lock lock(mutex);
        return changed.wait_until(lock, deadline, [&] { return calls >= expected; });
    }
};

TEST(bounded_channel, concurrent_producers_and_consumers_deliver_every_item_once) {
    constexpr int producers = 4;
    constexpr int consumers = 4;
    constexpr int items_per_producer = 20'000;
    constexpr int total = producers * items_per_producer;
    int_channel channel(16);
    const auto deadline = steady::now() + 60s;

    std::atomic<bool> producer_failed{false};
    std::atomic<int> fulls{0};
    std::vector<std::thread> producer_threads;
    for (int p = 0; p < producers; ++p) {
        producer_threads.emplace_back([&, p] {
            auto signal = std::make_shared<room_signal>();
            int waits = 0;
            for (int i = 0; i < items_per_producer; ++i) {
                int item = p * items_per_producer + i;
                for (;;) {
                    auto result = channel.push_or_wait(item, [signal] { signal->notify(); });
                    if (result == int_channel::push_result::pushed) break;
                    if (result == int_channel::push_result::closed ||
                        !signal->wait_for_call(++waits, deadline)) {
                        producer_failed = true;
                        return;
                    }
                    fulls.fetch_add(1, std::memory_order_relaxed);
                }
            }
        });
    }

    std::vector<std::vector<int>> received(consumers);
    std::vector<std::thread> consumer_threads;
    for (int c = 0; c < consumers; ++c) {
        consumer_threads.emplace_back([&, c] {
            while (auto item = channel.pop_until(deadline)) received[c].push_back(*item);
        });
    }

    for (auto& thread : producer_threads) thread.join();
    channel.close();
    for (auto& thread : consumer_threads) thread.join();

    ASSERT_FALSE(producer_failed) << "a producer was never called back, or saw a close";
    ASSERT_LT(steady::now(), deadline);
    std::vector<int> seen(total, 0);
    std::size_t count = 0;
    for (const auto& items : received) {
        count += items.size();
        for (int item : items) {
            ASSERT_GE(item, 0);
            ASSERT_LT(item, total);
            ++seen[static_cast<std::size_t>(item)];
        }
    }
    EXPECT_EQ(count, static_cast<std::size_t>(total));
    for (int i = 0; i < total; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)], 1) << "item " << i;
    // Each producer's own items arrive in the order it pushed them, per consumer.
    for (const auto& items : received) {
        std::vector<int> last(producers, -1);
        for (int item : items) {
            int& previous = last[static_cast<std::size_t>(item / items_per_producer)];
            ASSERT_GT(item, previous);
            previous = item;
        }
    }
    RecordProperty("fulls", fulls.load());
}

}  // namespace
}  // namespace raccoon::core
