#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <raccoon/core/memory_budget.hpp>
#include <thread>
#include <vector>

namespace raccoon::core {
namespace {

using take = memory_budget::take_result;

// A batch's claim and the callback it left, as a transport holds them.
struct offer {
    std::unique_ptr<budget_claim> claim = std::make_unique<budget_claim>();
    int room_calls = 0;

    take try_take(memory_budget& budget, std::size_t bytes) {
        memory_budget::room_callback on_room = [this] { ++room_calls; };
        return budget.take_or_wait(*claim, bytes, on_room);
    }
    void destroy() { claim.reset(); }
};

TEST(memory_budget, takes_up_to_the_limit_and_gives_back_when_a_claim_is_destroyed) {
    memory_budget budget(1000);
    offer a, b, c;
    ASSERT_EQ(a.try_take(budget, 400), take::taken);
    ASSERT_EQ(b.try_take(budget, 600), take::taken);
    EXPECT_EQ(budget.held(), 1000u);
    EXPECT_EQ(c.try_take(budget, 1), take::full);
    EXPECT_EQ(c.claim->held(), 0u);
    EXPECT_EQ(budget.waiting(), 1u);

    a.destroy();
    // Granted to the waiting claim itself before its callback: its next offer
    // finds the bytes held and takes nothing more.
    EXPECT_EQ(c.room_calls, 1);
    EXPECT_EQ(c.claim->held(), 1u);
    EXPECT_EQ(budget.held(), 601u);
    EXPECT_EQ(c.try_take(budget, 1), take::taken);
    EXPECT_EQ(budget.held(), 601u);
    EXPECT_EQ(budget.waiting(), 0u);

    b.destroy();
    c.destroy();
    EXPECT_EQ(budget.held(), 0u);
}

TEST(memory_budget, waiting_claims_are_served_in_order) {
    memory_budget budget(100);
    offer holder, first, second;
    ASSERT_EQ(holder.try_take(budget, 100), take::taken);
    ASSERT_EQ(first.try_take(budget, 60), take::full);
    ASSERT_EQ(second.try_take(budget, 60), take::full);

    holder.destroy();
    EXPECT_EQ(first.room_calls, 1);
    EXPECT_EQ(second.room_calls, 0) << "60 + 60 does not fit in 100";
    first.destroy();
    EXPECT_EQ(second.room_calls, 1);
}

TEST(memory_budget, a_claim_larger_than_the_budget_is_taken_when_nothing_else_is_held) {
    memory_budget budget(100);
    offer small, huge, later;
    ASSERT_EQ(small.try_take(budget, 10), take::taken);
    ASSERT_EQ(huge.try_take(budget, 500), take::full);
    ASSERT_EQ(later.try_take(budget, 1), take::full) << "it may not pass a head that needs it all";

    small.destroy();
    EXPECT_EQ(huge.room_calls, 1);
    EXPECT_EQ(budget.held(), 500u);
    EXPECT_EQ(later.room_calls, 0);
    huge.destroy();
    EXPECT_EQ(later.room_calls, 1);
    EXPECT_EQ(budget.held(), 1u);
}

TEST(memory_budget, small_claims_pass_a_waiting_large_one_within_an_eighth_of_the_budget) {
    memory_budget budget(64'000);
    offer large_holder, large_waiting;
    ASSERT_EQ(large_holder.try_take(budget, 40'000), take::taken);
    ASSERT_EQ(large_waiting.try_take(budget, 40'000), take::full);

    // Small: at most 1/64 of the budget (1,000 bytes); passers hold at most
    // 1/8 (8,000).
    std::vector<offer> passers(8);
    for (auto& p : passers) ASSERT_EQ(p.try_take(budget, 1000), take::taken);
    offer ninth, not_small;
    EXPECT_EQ(ninth.try_take(budget, 1000), take::full) << "passers would hold more than 1/8";
    EXPECT_EQ(not_small.try_take(budget, 1001), take::full) << "only small claims pass";

    // A passer gone makes room for the next small one, not for the head.
    passers.front().destroy();
    EXPECT_EQ(ninth.room_calls, 1);
    EXPECT_EQ(large_waiting.room_calls, 0);

    // The head gets its bytes once what was taken before it is gone, whatever
    // the passers do meanwhile.
    large_holder.destroy();
    EXPECT_EQ(large_waiting.room_calls, 1);
    EXPECT_EQ(not_small.room_calls, 1) << "served once it is the head and fits";
}

TEST(memory_budget, a_head_needing_nearly_all_the_budget_lets_none_pass) {
    memory_budget budget(64'000);
    offer holder, head, small;
    ASSERT_EQ(holder.try_take(budget, 10'000), take::taken);
    ASSERT_EQ(head.try_take(budget, 60'000), take::full);
    EXPECT_EQ(small.try_take(budget, 100), take::full);
    holder.destroy();
    EXPECT_EQ(head.room_calls, 1);
    EXPECT_EQ(small.room_calls, 1);
}

TEST(memory_budget, a_claim_destroyed_while_waiting_leaves_the_queue) {
    memory_budget budget(100);
    offer holder, gone, next;
    ASSERT_EQ(holder.try_take(budget, 100), take::taken);
    ASSERT_EQ(gone.try_take(budget, 100), take::full);
    ASSERT_EQ(next.try_take(budget, 100), take::full);
    gone.destroy();
    EXPECT_EQ(budget.waiting(), 1u);
    holder.destroy();
    EXPECT_EQ(next.room_calls, 1);
    EXPECT_EQ(budget.held(), 100u);
}

TEST(memory_budget, close_calls_every_waiting_callback_and_refuses_further_takes) {
    memory_budget budget(100);
    offer holder, waiting;
    ASSERT_EQ(holder.try_take(budget, 100), take::taken);
    ASSERT_EQ(waiting.try_take(budget, 10), take::full);
    budget.close();
    EXPECT_EQ(waiting.room_calls, 1);
    EXPECT_EQ(waiting.claim->held(), 0u);
    EXPECT_EQ(waiting.try_take(budget, 10), take::closed);
    offer fresh;
    EXPECT_EQ(fresh.try_take(budget, 1), take::closed);
    // What was held stays held until its claim goes.
    EXPECT_EQ(budget.held(), 100u);
    holder.destroy();
    EXPECT_EQ(budget.held(), 0u);
}

TEST(memory_budget, a_release_from_a_callback_does_not_recurse) {
    // Each waiting claim's callback destroys the claim granted to it, which
    // frees the bytes for the next: a chain as long as the queue, served by
    // the first release's loop instead of nested calls.
    constexpr int chain = 10'000;
    memory_budget budget(10);
    offer holder;
    ASSERT_EQ(holder.try_take(budget, 10), take::taken);
    std::vector<std::unique_ptr<budget_claim>> claims(chain);
    int calls = 0;
    int deepest = 0;
    int depth = 0;
    for (auto& claim : claims) {
        claim = std::make_unique<budget_claim>();
        memory_budget::room_callback on_room = [&calls, &claim, &depth, &deepest] {
            ++calls;
            ++depth;
            deepest = std::max(deepest, depth);
            claim.reset();
            --depth;
        };
        ASSERT_EQ(budget.take_or_wait(*claim, 10, on_room), take::full);
    }
    holder.destroy();
    EXPECT_EQ(calls, chain);
    EXPECT_EQ(deepest, 1);
    EXPECT_EQ(budget.held(), 0u);
}

TEST(memory_budget, concurrent_takes_and_releases_never_exceed_the_limit_and_all_finish) {
    constexpr std::size_t limit = 10'000;
    constexpr int producers = 4;
    constexpr int per_producer = 2'000;
    memory_budget budget(limit);
    std::atomic<std::size_t> most_held{0};
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            for (int i = 0; i < per_producer; ++i) {
                auto claim = std::make_unique<budget_claim>();
                const std::size_t bytes = 100 + static_cast<std::size_t>((p * 7919 + i) % 3000);
                std::atomic<bool> granted{false};
                memory_budget::room_callback on_room = [&granted] {
                    granted.store(true, std::memory_order_release);
                    granted.notify_one();
                };
                if (budget.take_or_wait(*claim, bytes, on_room) == take::full) {
                    granted.wait(false, std::memory_order_acquire);
                    memory_budget::room_callback again = [] {};
                    ASSERT_EQ(budget.take_or_wait(*claim, bytes, again), take::taken);
                }
                std::size_t seen = budget.held();
                std::size_t most = most_held.load();
                while (seen > most && !most_held.compare_exchange_weak(most, seen)) {
                }
                // Released by another thread now and then, as a delivery report would.
                if (i % 25 == 0) {
                    std::thread([c = std::move(claim)] {}).join();
                }
            }
            ++finished;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(finished.load(), producers);
    EXPECT_LE(most_held.load(), limit);
    EXPECT_EQ(budget.held(), 0u);
    EXPECT_EQ(budget.waiting(), 0u);
}

}  // namespace
}  // namespace raccoon::core
