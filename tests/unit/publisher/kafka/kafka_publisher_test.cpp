#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <raccoon/config/settings.hpp>
#include <raccoon/core/batch.hpp>
#include <raccoon/core/error.hpp>
#include <raccoon/publisher/kafka/kafka_metrics.hpp>
#include <raccoon/publisher/kafka/kafka_publisher.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace raccoon::publisher::kafka {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using client_properties = std::map<std::string, std::string>;

constexpr auto deadline_for_test = 20s;
// Kafka's ApiKey of a ProduceRequest.
constexpr std::int16_t produce_api_key = 0;

// A mock cluster of librdkafka's own, on a handle of its own, so the
// publisher under test is configured exactly as in production: by bootstrap.servers.
class mock_cluster {
 public:
    explicit mock_cluster(int brokers = 1) {
        char error[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);
        owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
        if (owner_ == nullptr) throw std::runtime_error(error);
        cluster_ = rd_kafka_mock_cluster_new(owner_, brokers);
        if (cluster_ == nullptr) throw std::runtime_error("cannot start a mock cluster");
    }

    ~mock_cluster() {
        rd_kafka_mock_cluster_destroy(cluster_);
        rd_kafka_destroy(owner_);
    }

    mock_cluster(const mock_cluster&) = delete;
    mock_cluster& operator=(const mock_cluster&) = delete;

    std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
    rd_kafka_mock_cluster_t* get() const { return cluster_; }

    void create_topic(const std::string& topic, int partitions) {
        ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
    }

    // Every message value on `topic`, read from the beginning of each of its
    // partitions until `expected` arrived or the deadline passed.
    std::multiset<std::string> read(const std::string& topic, int partitions,
                                    std::size_t expected) const {
        std::multiset<std::string> values;
        for (auto& [partition, value] : read_records(topic, partitions, expected)) {
            values.insert(std::move(value));
        }
        return values;
    }

    // The same, with the partition each value is in.
    std::vector<std::pair<std::int32_t, std::string>> read_records(const std::string& topic,
                                                                   int partitions,
                                                                   std::size_t expected) const {
        char error[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap().c_str(), error, sizeof error);
        rd_kafka_conf_set(conf, "group.id", "reader", error, sizeof error);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", error, sizeof error);
        rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
        if (consumer == nullptr) throw std::runtime_error(error);
        rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
        for (int p = 0; p < partitions; ++p) {
            rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_assign(consumer, assignment);
        rd_kafka_topic_partition_list_destroy(assignment);

        std::vector<std::pair<std::int32_t, std::string>> records;
        const auto until = steady::now() + deadline_for_test;
        while (records.size() < expected && steady::now() < until) {
            rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer, 100);
            if (message == nullptr) continue;
            if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                records.emplace_back(
                    message->partition,
                    std::string(static_cast<const char*>(message->payload), message->len));
            }
            rd_kafka_message_destroy(message);
        }
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
        return records;
    }

 private:
    rd_kafka_t* owner_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

// The outcome of a batch, awaited from the test thread.
class completion_probe {
 public:
    core::batch::completion completion() {
        return [self = state_](const core::batch_result& result) {
            {
                std::lock_guard lock(self->mutex);
                self->results.push_back(result);
            }
            self->changed.notify_all();
        };
    }

    // The result once the batch completed, or nullopt at the deadline.
    std::optional<core::batch_result> wait(std::chrono::milliseconds timeout = deadline_for_test) {
        std::unique_lock lock(state_->mutex);
        if (!state_->changed.wait_for(lock, timeout, [&] { return !state_->results.empty(); })) {
            return std::nullopt;
        }
        return state_->results.front();
    }

    std::size_t calls() const {
        std::lock_guard lock(state_->mutex);
        return state_->results.size();
    }

 private:
    struct state {
        std::mutex mutex;
        std::condition_variable changed;
        std::vector<core::batch_result> results;
    };
    std::shared_ptr<state> state_ = std::make_shared<state>();
};

// Topic names outlive the batches: the worker's topic_router owns them in production.
std::unique_ptr<core::batch> make_batch(const std::vector<const std::string*>& topics,
                                        const std::string& payload_prefix,
                                        completion_probe& probe) {
    auto b = std::make_unique<core::batch>();
    b->req_guid = payload_prefix;
    for (std::size_t i = 0; i < topics.size(); ++i) {
        core::event e;
        e.type = "click";
        e.bytes = payload_prefix + "-" + std::to_string(i);
        e.topic = topics[i];
        b->events.push_back(std::move(e));
    }
    b->set_completion(probe.completion());
    return b;
}

std::unique_ptr<core::batch> make_batch(const std::string& topic, std::size_t events,
                                        const std::string& payload_prefix,
                                        completion_probe& probe) {
    return make_batch(std::vector<const std::string*>(events, &topic), payload_prefix, probe);
}

client_properties quiet(client_properties properties) {
    properties.emplace("log_level", "3");
    return properties;
}

TEST(kafka_publisher, delivers_every_event_and_completes_the_batch_ok) {
    mock_cluster cluster;
    const std::string topic = "clickstream-click-log";
    cluster.create_topic(topic, 3);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()}}));
    EXPECT_EQ(publisher.name(), "kafka");

    completion_probe probe;
    publisher.publish(make_batch(topic, 50, "ok", probe));
    auto result = probe.wait();
    ASSERT_TRUE(result.has_value()) << "the batch never completed";
    EXPECT_TRUE(result->ok()) << result->error.message() << ": " << result->detail;
    EXPECT_EQ(publisher.flush(5s), 0u);
    EXPECT_EQ(probe.calls(), 1u);

    std::multiset<std::string> expected;
    for (int i = 0; i < 50; ++i) expected.insert("ok-" + std::to_string(i));
    EXPECT_EQ(cluster.read(topic, 3, expected.size()), expected);
}

TEST(kafka_publisher, counts_every_delivered_event_by_group_and_type) {
    mock_cluster cluster;
    const std::string topic = "clickstream-tally-log";
    cluster.create_topic(topic, 1);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()}}));
    auto& delivered = process_metrics().kafka_messages_delivered_total;
    auto count = [&](std::string_view group, std::string_view type) {
        return delivered.with({"true", group, type}).value();
    };
    const auto clicks_before = count("tally-a", "click");
    const auto views_before = count("tally-a", "view");
    const auto other_group_before = count("tally-b", "click");

    // Runs of one type, of one batch, and batches of two groups, interleaved.
    const std::vector<std::string_view> types = {"click", "click", "view", "click", "view"};
    std::vector<completion_probe> probes(6);
    for (std::size_t i = 0; i < probes.size(); ++i) {
        auto b = make_batch(topic, types.size(), "tally" + std::to_string(i), probes[i]);
        for (std::size_t e = 0; e < types.size(); ++e) b->events[e].type = types[e];
        b->identity.group = i % 2 == 0 ? "tally-a" : "tally-b";
        publisher.publish(std::move(b));
    }
    for (auto& probe : probes) {
        auto result = probe.wait();
        ASSERT_TRUE(result.has_value()) << "a batch never completed";
        EXPECT_TRUE(result->ok()) << result->detail;
    }
    // A batch completes with its last report, once its events are counted.
    EXPECT_EQ(count("tally-a", "click") - clicks_before, 9u);
    EXPECT_EQ(count("tally-a", "view") - views_before, 6u);
    EXPECT_EQ(count("tally-b", "click") - other_group_before, 9u);
    EXPECT_EQ(publisher.flush(5s), 0u);
}

TEST(kafka_publisher, a_flush_that_serves_the_reports_completes_their_batches) {
    mock_cluster cluster;
    const std::string topic = "clickstream-flushed-log";
    cluster.create_topic(topic, 1);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()}}));
    // flush() serves delivery reports on its own thread too, racing the
    // delivery thread: whichever serves a batch's reports must complete it by
    // the time it returns.
    for (int round = 0; round < 20; ++round) {
        completion_probe probe;
        publisher.publish(make_batch(topic, 5, "flushed" + std::to_string(round), probe));
        ASSERT_EQ(publisher.flush(5s), 0u);
        auto result = probe.wait(std::chrono::milliseconds(200));
        ASSERT_TRUE(result.has_value()) << "round " << round << ": flushed but not completed";
        EXPECT_TRUE(result->ok()) << result->detail;
    }
}

TEST(kafka_publisher, concurrent_publishers_complete_every_batch_once) {
    constexpr int threads = 4;
    constexpr int batches_per_thread = 50;
    constexpr int events_per_batch = 10;
    mock_cluster cluster;
    const std::string topic = "many";
    cluster.create_topic(topic, 4);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()}}));

    std::vector<completion_probe> probes(threads * batches_per_thread);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < batches_per_thread; ++i) {
                const int index = t * batches_per_thread + i;
                publisher.publish(make_batch(topic, events_per_batch, "b" + std::to_string(index),
                                             probes[static_cast<std::size_t>(index)]));
            }
        });
    }
    for (auto& worker : workers) worker.join();
    for (auto& probe : probes) {
        auto result = probe.wait();
        ASSERT_TRUE(result.has_value());
        EXPECT_TRUE(result->ok()) << result->detail;
    }
    EXPECT_EQ(publisher.flush(5s), 0u);
    for (auto& probe : probes) EXPECT_EQ(probe.calls(), 1u);
}

TEST(kafka_publisher, full_queue_waits_for_room_and_loses_nothing) {
    constexpr std::size_t events = 300;
    mock_cluster cluster;
    const std::string topic = "small-queue";
    cluster.create_topic(topic, 2);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()},
                                     {"queue.buffering.max.messages", "10"},
                                     {"linger.ms", "1"},
                                     // Bounds the wait for room should the broker never answer.
                                     {"message.timeout.ms", "10000"}}));
    completion_probe probe;
    publisher.publish(make_batch(topic, events, "q", probe));
    auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok()) << result->detail;
    EXPECT_EQ(publisher.flush(5s), 0u);
    EXPECT_EQ(cluster.read(topic, 2, events).size(), events);
}

TEST(kafka_publisher, batch_with_a_failing_event_fails_with_librdkafkas_reason) {
    // Each topic on its own broker, so only the denied topic's ProduceRequest fails.
    mock_cluster cluster(2);
    const std::string good = "good";
    const std::string denied = "denied";
    cluster.create_topic(good, 1);
    cluster.create_topic(denied, 1);
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster.get(), good.c_str(), 0, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster.get(), denied.c_str(), 0, 2),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(
        rd_kafka_mock_broker_push_request_error_rtts(
            cluster.get(), 2, produce_api_key, 1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()},
                                     {"message.timeout.ms", "5000"},
                                     {"retries", "0"}}));

    completion_probe probe;
    publisher.publish(make_batch({&good, &denied, &good}, "mixed", probe));
    auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->error, core::errc::publish_failed);
    EXPECT_EQ(result->detail, rd_kafka_err2str(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));

    // The healthy topic's events were delivered all the same.
    EXPECT_EQ(cluster.read(good, 1, 2), (std::multiset<std::string>{"mixed-0", "mixed-2"}));
    EXPECT_EQ(publisher.flush(5s), 0u);
    EXPECT_EQ(probe.calls(), 1u);
}

TEST(kafka_publisher, broker_error_on_produce_fails_the_batch_then_recovers) {
    mock_cluster cluster;
    const std::string topic = "flaky";
    cluster.create_topic(topic, 1);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()},
                                     {"message.timeout.ms", "5000"},
                                     {"retries", "0"},
                                     {"linger.ms", "50"}}));
    // Warm up so the next batch goes out in one ProduceRequest, the one that fails.
    completion_probe warm;
    publisher.publish(make_batch(topic, 1, "warm", warm));
    ASSERT_TRUE(warm.wait().has_value());

    rd_kafka_mock_push_request_errors(cluster.get(), produce_api_key, 1,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    completion_probe failing;
    publisher.publish(make_batch(topic, 5, "fail", failing));
    auto result = failing.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->error, core::errc::publish_failed);
    EXPECT_EQ(result->detail, rd_kafka_err2str(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS));

    completion_probe after;
    publisher.publish(make_batch(topic, 5, "after", after));
    result = after.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok()) << result->detail;
    EXPECT_EQ(publisher.flush(5s), 0u);
}

TEST(kafka_publisher, refused_property_throws_naming_its_setting) {
    try {
        kafka_publisher publisher(client_properties{{"no.such.property", "1"}});
        FAIL() << "librdkafka accepted an unknown property";
    } catch (const config::invalid_setting& e) {
        EXPECT_EQ(e.key(), "PUBLISHER_KAFKA_CLIENT_NO_SUCH_PROPERTY");
        EXPECT_NE(std::string(e.what()).find("PUBLISHER_KAFKA_CLIENT_NO_SUCH_PROPERTY"),
                  std::string::npos)
            << e.what();
    }
}

TEST(kafka_publisher, refused_value_throws_naming_its_setting) {
    EXPECT_THROW(kafka_publisher(client_properties{{"acks", "not-a-number"}}),
                 config::invalid_setting);
    try {
        kafka_publisher publisher(client_properties{{"queue.buffering.max.messages", "-5"}});
        FAIL() << "librdkafka accepted a negative queue size";
    } catch (const config::invalid_setting& e) {
        EXPECT_EQ(e.key(), "PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MESSAGES");
    }
}

TEST(kafka_publisher, flush_with_an_unreachable_broker_fails_pending_events_and_counts_them) {
    kafka_publisher publisher(quiet({{"bootstrap.servers", "127.0.0.1:1"}}));
    const std::string topic = "nowhere";
    completion_probe probe;
    publisher.publish(make_batch(topic, 7, "lost", probe));
    EXPECT_FALSE(probe.wait(100ms).has_value()) << "nothing can be delivered yet";

    const auto start = steady::now();
    EXPECT_EQ(publisher.flush(300ms), 7u);
    EXPECT_LT(steady::now() - start, 10s);

    auto result = probe.wait();
    ASSERT_TRUE(result.has_value()) << "flush left the batch without an outcome";
    EXPECT_EQ(result->error, core::errc::publish_failed);
    EXPECT_FALSE(result->detail.empty());
    EXPECT_EQ(probe.calls(), 1u);
}

TEST(kafka_publisher, flush_fails_in_flight_events_as_possibly_persisted) {
    mock_cluster cluster;
    const std::string topic = "slow";
    cluster.create_topic(topic, 1);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()}}));
    // Connect and learn the topic first, so the batch below is sent, not queued.
    completion_probe warm;
    publisher.publish(make_batch(topic, 1, "warm", warm));
    auto warmed = warm.wait();
    ASSERT_TRUE(warmed.has_value());
    ASSERT_TRUE(warmed->ok()) << warmed->detail;

    // The broker now takes 5 s to answer: the batch is in flight when flush gives up.
    ASSERT_EQ(rd_kafka_mock_broker_set_rtt(cluster.get(), 1, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
    completion_probe probe;
    publisher.publish(make_batch(topic, 4, "slow", probe));
    EXPECT_FALSE(probe.wait(200ms).has_value());
    const auto start = steady::now();
    EXPECT_EQ(publisher.flush(100ms), 4u);
    EXPECT_LT(steady::now() - start, 4s);
    auto result = probe.wait(0ms);
    ASSERT_TRUE(result.has_value()) << "flush left the in-flight batch without an outcome";
    EXPECT_EQ(result->error, core::errc::publish_failed);
    // The broker may have written them: a client must be told, as it may resend.
    EXPECT_EQ(result->detail, std::string(rd_kafka_err2str(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)) +
                                  " (possibly persisted)");
}

TEST(kafka_publisher, stop_waiting_fails_what_a_full_queue_cannot_take) {
    kafka_publisher publisher(
        quiet({{"bootstrap.servers", "127.0.0.1:1"}, {"queue.buffering.max.messages", "2"}}));
    const std::string topic = "nowhere";
    completion_probe probe;
    auto publishing = std::async(std::launch::async,
                                 [&] { publisher.publish(make_batch(topic, 5, "full", probe)); });
    // The queue holds 2 of the 5 events and no broker makes room: publish() must wait, not drop.
    EXPECT_EQ(publishing.wait_for(200ms), std::future_status::timeout);
    publisher.stop_waiting();
    if (publishing.wait_for(deadline_for_test) != std::future_status::ready) {
        // Each purge makes room for 2 more, so the stuck publish() ends and the test can too.
        for (int i = 0; i < 10 && publishing.wait_for(100ms) != std::future_status::ready; ++i) {
            publisher.flush(0ms);
        }
        FAIL() << "publish() kept waiting after stop_waiting()";
    }
    EXPECT_EQ(probe.calls(), 0u) << "the 2 queued events are still pending";

    EXPECT_EQ(publisher.flush(100ms), 2u);
    auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->error, core::errc::publish_failed);
    EXPECT_EQ(result->detail, rd_kafka_err2str(RD_KAFKA_RESP_ERR__QUEUE_FULL));
    EXPECT_EQ(probe.calls(), 1u);
}

TEST(kafka_publisher, event_refused_at_produce_fails_its_batch_at_once) {
    mock_cluster cluster;
    const std::string topic = "sized";
    cluster.create_topic(topic, 1);
    kafka_publisher publisher(
        quiet({{"bootstrap.servers", cluster.bootstrap()}, {"message.max.bytes", "1000"}}));
    const std::string huge(5000, 'x');

    // The oversized event first, in the middle and last: librdkafka refuses it
    // inside publish(), while the others are delivered later from its thread.
    for (std::size_t oversized : {0u, 1u, 2u}) {
        SCOPED_TRACE(oversized);
        completion_probe probe;
        auto b = make_batch(topic, 3, "sized" + std::to_string(oversized), probe);
        b->events[oversized].bytes = huge;
        publisher.publish(std::move(b));
        auto result = probe.wait();
        ASSERT_TRUE(result.has_value());
        EXPECT_EQ(result->error, core::errc::publish_failed);
        EXPECT_EQ(result->detail, rd_kafka_err2str(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    }
    EXPECT_EQ(publisher.flush(5s), 0u);
    EXPECT_EQ(cluster.read(topic, 1, 6).size(), 6u);
}

TEST(kafka_publisher, topics_beyond_the_kept_handles_are_delivered_all_the_same) {
    // Past 1,024 topics the publisher keeps no more handles (event types come
    // from clients) and takes one for each run instead.
    constexpr int topics = 1030;
    mock_cluster cluster;
    std::vector<std::string> names;
    names.reserve(topics);
    for (int i = 0; i < topics; ++i) names.push_back("t" + std::to_string(i));
    for (const auto& name : names) cluster.create_topic(name, 1);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()}}));
    std::vector<completion_probe> probes(topics);
    for (int i = 0; i < topics; ++i) {
        const auto at = static_cast<std::size_t>(i);
        publisher.publish(make_batch(names[at], 1, names[at], probes[at]));
    }
    for (int i = 0; i < topics; ++i) {
        auto result = probes[static_cast<std::size_t>(i)].wait();
        ASSERT_TRUE(result.has_value()) << names[static_cast<std::size_t>(i)];
        EXPECT_TRUE(result->ok()) << names[static_cast<std::size_t>(i)] << ": " << result->detail;
    }
    EXPECT_EQ(publisher.flush(5s), 0u);
    EXPECT_EQ(cluster.read(names.back(), 1, 1), (std::multiset<std::string>{names.back() + "-0"}));
}

// Waits, bounded, until the publisher has counted the topic's partitions.
std::int32_t partitions_counted(kafka_publisher& publisher, const std::string& topic) {
    const auto until = steady::now() + 5s;
    while (publisher.partitions_in_use(topic) == 0 && steady::now() < until) {
        std::this_thread::sleep_for(10ms);
    }
    return publisher.partitions_in_use(topic);
}

TEST(kafka_publisher, runs_take_turns_over_the_topics_partitions) {
    constexpr int partitions = 4;
    constexpr std::size_t events_per_run = 10;
    constexpr auto runs_per_partition = kafka_publisher::runs_per_partition;
    mock_cluster cluster;
    const std::string topic = "spread";
    cluster.create_topic(topic, partitions);
    kafka_publisher publisher(quiet({{"bootstrap.servers", cluster.bootstrap()}}));
    // The first run is produced before the count is known: librdkafka places it.
    completion_probe first;
    publisher.publish(make_batch(topic, events_per_run, "first", first));
    ASSERT_EQ(partitions_counted(publisher, topic), partitions);

    std::vector<completion_probe> probes(partitions * runs_per_partition);
    for (std::size_t run = 0; run < probes.size(); ++run) {
        publisher.publish(
            make_batch(topic, events_per_run, "run" + std::to_string(run), probes[run]));
    }
    for (auto& probe : probes) {
        auto result = probe.wait();
        ASSERT_TRUE(result.has_value());
        EXPECT_TRUE(result->ok()) << result->detail;
    }
    EXPECT_EQ(publisher.flush(5s), 0u);

    // Each run whole in one partition, each partition the next runs_per_partition runs.
    std::map<std::string, std::set<std::int32_t>> partitions_of_run;
    std::map<std::int32_t, std::size_t> events_in;
    for (const auto& [partition, value] :
         cluster.read_records(topic, partitions, (probes.size() + 1) * events_per_run)) {
        if (!value.starts_with("run")) continue;
        partitions_of_run[value.substr(0, value.find('-'))].insert(partition);
        ++events_in[partition];
    }
    ASSERT_EQ(partitions_of_run.size(), probes.size());
    for (const auto& [run, used] : partitions_of_run) EXPECT_EQ(used.size(), 1u) << run;
    for (std::int32_t p = 0; p < partitions; ++p) {
        EXPECT_EQ(events_in[p], runs_per_partition * events_per_run) << "partition " << p;
    }
}

TEST(kafka_publisher, a_sticky_linger_set_by_the_user_leaves_partitions_to_librdkafka) {
    // 0 asks librdkafka for a random partition per message: the publisher
    // must not put whole runs in one partition instead.
    constexpr int partitions = 4;
    constexpr std::size_t events = 200;
    mock_cluster cluster;
    const std::string topic = "scattered";
    cluster.create_topic(topic, partitions);
    kafka_publisher publisher(quiet(
        {{"bootstrap.servers", cluster.bootstrap()}, {"sticky.partitioning.linger.ms", "0"}}));
    completion_probe probe;
    publisher.publish(make_batch(topic, events, "scattered", probe));
    ASSERT_TRUE(probe.wait().has_value());
    std::this_thread::sleep_for(1s);  // what a count would have taken, many times over
    EXPECT_EQ(publisher.partitions_in_use(topic), 0);

    completion_probe after;
    publisher.publish(make_batch(topic, events, "after", after));
    ASSERT_TRUE(after.wait().has_value());
    std::set<std::int32_t> used;
    for (const auto& [partition, value] : cluster.read_records(topic, partitions, 2 * events)) {
        if (value.starts_with("after")) used.insert(partition);
    }
    EXPECT_GT(used.size(), 1u);
}

TEST(kafka_publisher, destruction_without_flush_still_completes_pending_batches) {
    completion_probe probe;
    {
        kafka_publisher publisher(quiet({{"bootstrap.servers", "127.0.0.1:1"}}));
        const std::string topic = "nowhere";
        publisher.publish(make_batch(topic, 3, "dropped", probe));
        EXPECT_EQ(probe.calls(), 0u);
    }
    // An ack is owed for every batch taken; none may vanish with the publisher.
    auto result = probe.wait(0ms);
    ASSERT_TRUE(result.has_value()) << "the batch was dropped without an outcome";
    EXPECT_EQ(result->error, core::errc::publish_failed);
    EXPECT_EQ(probe.calls(), 1u);
}

TEST(kafka_publisher, connected_says_whether_a_broker_answers) {
    mock_cluster cluster;
    kafka_publisher reachable(quiet({{"bootstrap.servers", cluster.bootstrap()}}));
    // The first request may race the first connection: a few tries, each bounded.
    bool connected = false;
    for (int i = 0; i < 20 && !connected; ++i) connected = reachable.connected();
    EXPECT_TRUE(connected);

    kafka_publisher unreachable(quiet({{"bootstrap.servers", "127.0.0.1:1"}}));
    const auto start = steady::now();
    EXPECT_FALSE(unreachable.connected());
    EXPECT_LT(steady::now() - start, 2s) << "connected() must stay bounded: it runs every second";
}

}  // namespace
}  // namespace raccoon::publisher::kafka

namespace raccoon::publisher::kafka {
namespace {

TEST(KafkaTopicNaming, LegalNamesAreKafkasOwn) {
    const auto naming = topic_naming();
    for (std::string_view legal : {"clickstream-page.view_v2-log", "a", "...", "A-Z_0.9"}) {
        EXPECT_EQ(naming.name_problem(legal), "") << legal;
    }
    EXPECT_EQ(naming.name_problem(std::string(249, 'a')), "");
    for (std::string_view illegal :
         {"", ".", "..", "a/b", "a b", "caf\xc3\xa9", "a\x01", "a:b", "a%b"}) {
        EXPECT_NE(naming.name_problem(illegal), "") << illegal;
    }
    EXPECT_NE(naming.name_problem(std::string(250, 'a')), "");
    EXPECT_EQ(naming.collision_key("a.b_c"), naming.collision_key("a_b.c"));
    EXPECT_NE(naming.collision_key("a.b"), naming.collision_key("a-b"));
}

}  // namespace
}  // namespace raccoon::publisher::kafka
