#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <raccoon/core/worker_pool.hpp>
#include <raccoon/publisher/publisher.hpp>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace raccoon::core {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr auto deadline_for_test = 10s;

// Every batch's acks, by req_guid; shared with completions so they outlive the test body.
struct ack_log {
    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, std::vector<batch_result>> by_guid;

    void add(const std::string& guid, const batch_result& result) {
        {
            std::lock_guard lock(mutex);
            by_guid[guid].push_back(result);
        }
        changed.notify_all();
    }

    bool wait_for_count(std::size_t count) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, deadline_for_test, [&] { return by_guid.size() >= count; });
    }
};

std::unique_ptr<batch> make_batch(const std::string& guid, std::vector<std::string> types,
                                  const std::shared_ptr<ack_log>& log) {
    auto b = std::make_unique<batch>();
    b->req_guid = guid;
    for (auto& type : types) b->events.push_back({std::move(type), "payload"});
    b->set_completion([log, guid](const batch_result& result) { log->add(guid, result); });
    return b;
}

// A producer's wait for its room callback, shared with the callback.
struct room_signal {
    std::mutex mutex;
    std::condition_variable changed;
    bool called = false;

    void notify() {
        {
            std::lock_guard lock(mutex);
            called = true;
        }
        changed.notify_one();
    }

    bool wait() {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, deadline_for_test, [this] { return called; });
    }
};

void push(batch_channel& channel, std::unique_ptr<batch> b) {
    ASSERT_EQ(channel.push_or_wait(b, [] {}), batch_channel::push_result::pushed);
}

// Records what each publish() saw, while the batch is in its hands, and
// delivers every event at once.
class recording_publisher final : public publisher::publisher {
 public:
    struct seen_batch {
        std::string guid;
        std::vector<std::pair<std::string, std::string>> type_and_topic;
        std::thread::id thread;
    };

    void publish(std::unique_ptr<batch> owned) override {
        seen_batch seen{owned->req_guid, {}, std::this_thread::get_id()};
        for (const auto& e : owned->events) {
            seen.type_and_topic.emplace_back(e.type, e.topic ? *e.topic : "<null>");
        }
        {
            std::lock_guard lock(mutex_);
            seen_.push_back(std::move(seen));
        }
        const std::size_t count = owned->events.size();
        batch* b = batch::start_delivery(std::move(owned));
        for (std::size_t i = 0; i < count; ++i) b->report_delivery({}, {});
    }

    std::size_t flush(std::chrono::milliseconds) override { return 0; }
    std::chrono::milliseconds flush_timeout() const override { return {}; }
    void stop_waiting() override {}
    std::string_view name() const noexcept override { return "recording"; }

    std::vector<seen_batch> seen() {
        std::lock_guard lock(mutex_);
        return seen_;
    }

 private:
    std::mutex mutex_;
    std::vector<seen_batch> seen_;
};

TEST(worker_pool, every_batch_reaches_the_publisher_with_topics_from_the_pattern) {
    constexpr int batches = 400;
    const std::vector<std::string> types = {"click", "page_view", "buy", "search"};
    batch_channel channel(16);
    recording_publisher publisher;
    auto log = std::make_shared<ack_log>();
    worker_pool pool(channel, publisher, "clickstream-%s-log", 4);
    pool.start();

    for (int i = 0; i < batches; ++i) {
        std::vector<std::string> batch_types;
        for (int e = 0; e <= i % 3; ++e) {
            batch_types.push_back(types[static_cast<std::size_t>(i + e) % types.size()]);
        }
        auto b = make_batch("b" + std::to_string(i), batch_types, log);
        // Wait for room the way a transport does: retry after the callback.
        for (int attempt = 0; attempt < 10'000; ++attempt) {
            auto room = std::make_shared<room_signal>();
            auto result = channel.push_or_wait(b, [room] { room->notify(); });
            if (result == batch_channel::push_result::pushed) break;
            ASSERT_EQ(result, batch_channel::push_result::full);
            ASSERT_TRUE(room->wait());
        }
        ASSERT_EQ(b, nullptr);
    }
    ASSERT_TRUE(log->wait_for_count(batches));
    channel.close();
    EXPECT_EQ(pool.drain(5s), 0u);

    auto seen = publisher.seen();
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(batches));
    std::set<std::string> guids;
    std::set<std::thread::id> threads;
    for (const auto& s : seen) {
        EXPECT_TRUE(guids.insert(s.guid).second) << s.guid << " published twice";
        threads.insert(s.thread);
        const int i = std::stoi(s.guid.substr(1));
        ASSERT_EQ(s.type_and_topic.size(), static_cast<std::size_t>(i % 3 + 1));
        for (const auto& [type, topic] : s.type_and_topic) {
            EXPECT_EQ(topic, "clickstream-" + type + "-log");
        }
    }
    EXPECT_EQ(guids.size(), static_cast<std::size_t>(batches));
    EXPECT_LE(threads.size(), 4u);
    EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);

    std::lock_guard lock(log->mutex);
    for (const auto& [guid, results] : log->by_guid) {
        ASSERT_EQ(results.size(), 1u) << guid;
        EXPECT_TRUE(results[0].ok()) << guid;
    }
}

TEST(worker_pool, pattern_without_placeholder_sends_everything_to_one_topic) {
    batch_channel channel(4);
    recording_publisher publisher;
    auto log = std::make_shared<ack_log>();
    push(channel, make_batch("only", {"a", "b"}, log));
    channel.close();
    worker_pool pool(channel, publisher, "everything", 1);
    pool.start();
    EXPECT_EQ(pool.drain(5s), 0u);
    auto seen = publisher.seen();
    ASSERT_EQ(seen.size(), 1u);
    ASSERT_EQ(seen[0].type_and_topic.size(), 2u);
    EXPECT_EQ(seen[0].type_and_topic[0].second, "everything");
    EXPECT_EQ(seen[0].type_and_topic[1].second, "everything");
}

// A publisher whose queue stays full: publish() holds its batch until
// stop_waiting(), then fails it, as the Kafka publisher does with QUEUE_FULL.
// Before returning it waits (bounded) for the channel to empty, so the test
// knows the batches left in the channel are the drain's to fail, not the worker's.
class blocking_publisher final : public publisher::publisher {
 public:
    explicit blocking_publisher(batch_channel& channel) : channel_(channel) {}

    void publish(std::unique_ptr<batch> owned) override {
        {
            std::unique_lock lock(mutex_);
            ++published_;
            changed_.notify_all();
            changed_.wait_for(lock, deadline_for_test, [this] { return stopped_; });
        }
        const auto until = steady::now() + deadline_for_test;
        while (channel_.size() > 0 && steady::now() < until) std::this_thread::yield();
        batch::fail(std::move(owned), {errc::publish_failed, "Local: Queue full"});
    }

    std::size_t flush(std::chrono::milliseconds) override { return 0; }
    std::chrono::milliseconds flush_timeout() const override { return {}; }

    void stop_waiting() override {
        {
            std::lock_guard lock(mutex_);
            stopped_ = true;
        }
        changed_.notify_all();
    }

    std::string_view name() const noexcept override { return "blocking"; }

    bool wait_for_published(int count) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, deadline_for_test, [&] { return published_ >= count; });
    }

    int published() {
        std::lock_guard lock(mutex_);
        return published_;
    }

 private:
    batch_channel& channel_;
    std::mutex mutex_;
    std::condition_variable changed_;
    int published_ = 0;
    bool stopped_ = false;
};

TEST(worker_pool, drain_fails_leftover_batches_after_the_timeout_and_joins) {
    batch_channel channel(8);
    blocking_publisher publisher(channel);
    auto log = std::make_shared<ack_log>();
    worker_pool pool(channel, publisher, "t-%s", 1);
    pool.start();

    push(channel, make_batch("stuck", {"click"}, log));
    ASSERT_TRUE(publisher.wait_for_published(1));
    for (int i = 0; i < 3; ++i) push(channel, make_batch("left" + std::to_string(i), {"a"}, log));
    channel.close();

    const auto start = steady::now();
    const std::size_t failed = pool.drain(100ms);
    const auto took = steady::now() - start;

    EXPECT_EQ(failed, 3u);
    EXPECT_GE(took, 100ms);
    EXPECT_LT(took, deadline_for_test);
    EXPECT_EQ(publisher.published(), 1) << "the leftovers are the drain's, not the publisher's";
    EXPECT_EQ(channel.size(), 0u);

    std::lock_guard lock(log->mutex);
    ASSERT_EQ(log->by_guid.size(), 4u);
    ASSERT_EQ(log->by_guid["stuck"].size(), 1u);
    EXPECT_EQ(log->by_guid["stuck"][0].error, errc::publish_failed);
    for (int i = 0; i < 3; ++i) {
        const auto& results = log->by_guid["left" + std::to_string(i)];
        ASSERT_EQ(results.size(), 1u);
        EXPECT_EQ(results[0].error, errc::shutting_down);
        EXPECT_FALSE(results[0].detail.empty());
    }
}

TEST(worker_pool, drain_returns_as_soon_as_the_workers_finish) {
    batch_channel channel(8);
    recording_publisher publisher;
    auto log = std::make_shared<ack_log>();
    worker_pool pool(channel, publisher, "t-%s", 3);
    pool.start();
    for (int i = 0; i < 5; ++i) push(channel, make_batch("b" + std::to_string(i), {"x"}, log));
    channel.close();
    const auto start = steady::now();
    EXPECT_EQ(pool.drain(deadline_for_test), 0u);
    EXPECT_LT(steady::now() - start, deadline_for_test / 2);
    EXPECT_EQ(publisher.seen().size(), 5u);
}

}  // namespace
}  // namespace raccoon::core
