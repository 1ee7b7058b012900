// The publisher against a stand-in for Kinesis that throttles: the one case
// kinesalite cannot play (tests/integration/kinesis covers the rest against it).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <raccoon/codec/base64.hpp>
#include <raccoon/core/batch.hpp>
#include <raccoon/publisher/kinesis/kinesis_metrics.hpp>
#include <raccoon/publisher/kinesis/kinesis_publisher.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace raccoon::publisher::kinesis {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr auto deadline_for_test = 20s;
const std::vector<std::string> shard_starts{"0", "170141183460469231731687303715884105728"};

// Kinesis with one ACTIVE two-shard stream whose PutRecords refuses, for
// throughput, the records the test's rule picks; it remembers every call.
class throttling_kinesis {
 public:
    struct put_call {
        std::vector<std::string> data;
        std::vector<std::string> hash_keys;
    };
    // Whether to throttle the record with this data on its attempt number `attempt`.
    using rule = std::function<bool(const std::string& data, int attempt)>;

    explicit throttling_kinesis(rule throttle) : throttle_(std::move(throttle)) {}

    connection_factory connections() {
        return [this] { return std::make_unique<connection>(*this); };
    }

    std::vector<put_call> calls() {
        std::lock_guard lock(mutex_);
        return calls_;
    }

 private:
    class connection final : public api_connection {
     public:
        explicit connection(throttling_kinesis& owner) : owner_(owner) {}
        api_reply call(std::string_view operation, const std::string& body,
                       std::chrono::milliseconds) override {
            return owner_.answer(operation, body);
        }

     private:
        throttling_kinesis& owner_;
    };

    api_reply answer(std::string_view operation, const std::string& body) {
        if (operation == "DescribeStreamSummary") {
            return {200, R"({"StreamDescriptionSummary":{"StreamStatus":"ACTIVE"}})", ""};
        }
        if (operation == "ListShards") {
            json shards = json::array();
            for (const auto& start : shard_starts) {
                shards.push_back({{"HashKeyRange", {{"StartingHashKey", start}}},
                                  {"SequenceNumberRange", {{"StartingSequenceNumber", "1"}}}});
            }
            return {200, json{{"Shards", shards}}.dump(), ""};
        }
        if (operation != "PutRecords")
            return {400, R"({"__type":"UnknownOperationException"})", ""};
        const json request = json::parse(body);
        json records = json::array();
        int failed = 0;
        put_call call;
        std::lock_guard lock(mutex_);
        for (const auto& record : request["Records"]) {
            const std::string data = *codec::base64_decode(record["Data"].get<std::string>());
            call.data.push_back(data);
            call.hash_keys.push_back(record.value("ExplicitHashKey", ""));
            if (throttle_(data, attempts_[data]++)) {
                ++failed;
                records.push_back({{"ErrorCode", "ProvisionedThroughputExceededException"},
                                   {"ErrorMessage", "Rate exceeded for shard"}});
            } else {
                records.push_back({{"SequenceNumber", "1"}, {"ShardId", "shardId-000000000000"}});
            }
        }
        calls_.push_back(std::move(call));
        return {200, json{{"FailedRecordCount", failed}, {"Records", records}}.dump(), ""};
    }

    rule throttle_;
    std::mutex mutex_;
    std::map<std::string, int> attempts_;
    std::vector<put_call> calls_;
};

class completion_probe {
 public:
    core::batch::completion completion() {
        return [this](const core::batch_result& result) {
            std::lock_guard lock(mutex_);
            results_.push_back(result);
            done_.notify_all();
        };
    }

    std::optional<core::batch_result> wait(std::chrono::milliseconds timeout = deadline_for_test) {
        std::unique_lock lock(mutex_);
        if (!done_.wait_for(lock, timeout, [&] { return !results_.empty(); })) return std::nullopt;
        return results_.front();
    }

 private:
    std::mutex mutex_;
    std::condition_variable done_;
    std::vector<core::batch_result> results_;
};

const std::string stream_name = "clickstream-click-log";

std::unique_ptr<core::batch> make_batch(std::size_t events, const std::string& prefix,
                                        completion_probe& probe) {
    auto b = std::make_unique<core::batch>();
    b->req_guid = prefix;
    b->identity.group = "group-" + prefix;
    for (std::size_t i = 0; i < events; ++i) {
        core::event e;
        e.type = "click";
        e.bytes = prefix + "-" + std::to_string(i);
        e.topic = &stream_name;
        b->events.push_back(std::move(e));
    }
    b->set_completion(probe.completion());
    return b;
}

std::uint64_t counted(metrics::counter_family& family, const std::string& group) {
    return family.with({stream_name, group, "click"}).value();
}

TEST(KinesisPublisher, PartialFailureRetriesOnlyTheRefusedRecords) {
    // Every third record is refused twice, then taken.
    throttling_kinesis kinesis([](const std::string& data, int attempt) {
        return std::stoi(data.substr(data.rfind('-') + 1)) % 3 == 0 && attempt < 2;
    });
    auto& m = process_metrics();
    const auto throttled_before = counted(m.kinesis_stream_throughput_exceeded_total, "group-p");
    const auto delivered_before = counted(m.kinesis_messages_delivered_total, "group-p");
    {
        kinesis_publisher publisher({.connections = 1}, kinesis.connections());
        completion_probe probe;
        publisher.publish(make_batch(1200, "p", probe));
        const auto result = probe.wait();
        ASSERT_TRUE(result.has_value()) << "the batch never completed";
        EXPECT_TRUE(result->ok()) << result->detail;
        EXPECT_EQ(publisher.flush(1s), 0u);
    }
    const auto calls = kinesis.calls();
    std::multiset<std::string> sent;
    std::size_t first_attempts = 0;
    for (const auto& call : calls) {
        EXPECT_LE(call.data.size(), 500u);
        sent.insert(call.data.begin(), call.data.end());
    }
    // The first three calls carry each record once, 500 + 500 + 200, turning
    // over both shards record by record.
    ASSERT_GE(calls.size(), 3u);
    EXPECT_EQ(calls[0].data.size(), 500u);
    EXPECT_EQ(calls[1].data.size(), 500u);
    for (std::size_t i = 0; i < calls[0].hash_keys.size(); ++i) {
        EXPECT_EQ(calls[0].hash_keys[i], shard_starts[i % 2]);
    }
    for (const auto& call : calls) {
        for (const auto& data : call.data) {
            if (std::stoi(data.substr(2)) % 3 != 0) ++first_attempts;
        }
    }
    // Each record went once, but for the refused ones, which went three times.
    EXPECT_EQ(first_attempts, 800u);
    for (int i = 0; i < 1200; ++i) {
        EXPECT_EQ(sent.count("p-" + std::to_string(i)), i % 3 == 0 ? 3u : 1u) << i;
    }
    EXPECT_EQ(counted(m.kinesis_stream_throughput_exceeded_total, "group-p") - throttled_before,
              800u);
    EXPECT_EQ(counted(m.kinesis_messages_delivered_total, "group-p") - delivered_before, 1200u);
}

TEST(KinesisPublisher, RecordsThrottledPastThePublishTimeoutFailWithTheReason) {
    throttling_kinesis kinesis([](const std::string& data, int) { return data == "t-3"; });
    auto& m = process_metrics();
    const auto undelivered_before = counted(m.kinesis_messages_undelivered_total, "group-t");
    const auto delivered_before = counted(m.kinesis_messages_delivered_total, "group-t");
    kinesis_publisher publisher({.publish_timeout = 400ms, .connections = 2},
                                kinesis.connections());
    completion_probe probe;
    const auto started = std::chrono::steady_clock::now();
    publisher.publish(make_batch(5, "t", probe));
    const auto result = probe.wait();
    ASSERT_TRUE(result.has_value()) << "the batch never completed";
    EXPECT_GE(std::chrono::steady_clock::now() - started, 400ms);
    EXPECT_FALSE(result->ok());
    EXPECT_NE(result->detail.find("PUBLISHER_KINESIS_PUBLISH_TIMEOUT_MS (400 ms)"),
              std::string::npos)
        << result->detail;
    EXPECT_NE(result->detail.find("ProvisionedThroughputExceededException"), std::string::npos)
        << result->detail;
    EXPECT_EQ(counted(m.kinesis_messages_undelivered_total, "group-t") - undelivered_before, 1u);
    EXPECT_EQ(counted(m.kinesis_messages_delivered_total, "group-t") - delivered_before, 4u);
    // Backoff, not a busy loop: a few tries in 400 ms.
    std::size_t tries = 0;
    for (const auto& call : kinesis.calls())
        tries += std::count(call.data.begin(), call.data.end(), "t-3");
    EXPECT_GE(tries, 2u);
    EXPECT_LE(tries, 12u);
}

TEST(KinesisPublisher, PublishWaitsWhileOutstandingIsFullUntilStopWaiting) {
    throttling_kinesis kinesis([](const std::string&, int) { return true; });
    kinesis_publisher publisher(
        {.publish_timeout = 30s, .max_outstanding_messages = 10, .connections = 1},
        kinesis.connections());
    completion_probe first;
    publisher.publish(make_batch(10, "full", first));
    completion_probe second;
    auto waiting =
        std::async(std::launch::async, [&] { publisher.publish(make_batch(3, "more", second)); });
    EXPECT_EQ(waiting.wait_for(300ms), std::future_status::timeout)
        << "publish() returned while 10 events were outstanding";
    publisher.stop_waiting();
    ASSERT_EQ(waiting.wait_for(deadline_for_test), std::future_status::ready);
    const auto refused = second.wait();
    ASSERT_TRUE(refused.has_value());
    EXPECT_FALSE(refused->ok());
    EXPECT_NE(refused->detail.find("shutting down"), std::string::npos) << refused->detail;
    // The shutdown's flush fails what Kinesis never took.
    EXPECT_EQ(publisher.flush(100ms), 10u);
    const auto flushed = first.wait();
    ASSERT_TRUE(flushed.has_value());
    EXPECT_FALSE(flushed->ok());
    EXPECT_NE(flushed->detail.find("before shutdown"), std::string::npos) << flushed->detail;
}

TEST(KinesisPublisher, EventLargerThanARecordFailsAtOnce) {
    throttling_kinesis kinesis([](const std::string&, int) { return false; });
    kinesis_publisher publisher({.connections = 1}, kinesis.connections());
    completion_probe probe;
    auto b = make_batch(1, "big", probe);
    b->events[0].bytes.assign(1024 * 1024, 'x');
    publisher.publish(std::move(b));
    const auto result = probe.wait(2s);
    ASSERT_TRUE(result.has_value());
    EXPECT_FALSE(result->ok());
    EXPECT_NE(result->detail.find("larger than a Kinesis record"), std::string::npos);
    EXPECT_TRUE(kinesis.calls().empty());
}

}  // namespace
}  // namespace raccoon::publisher::kinesis
