#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <raccoon/core/topic_policy.hpp>
#include <raccoon/publisher/publisher.hpp>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>

struct rd_kafka_s;
struct rd_kafka_topic_s;
struct rd_kafka_message_s;

namespace raccoon::publisher::kafka {

// Publishes to Kafka through librdkafka: asynchronous produce without copying
// the event bytes, and one thread serving delivery reports, which count down
// the events' batches (a run of one batch's deliveries at once). librdkafka
// names its own threads rdk:*.
//
// A run of a batch's events to one topic goes to one partition, which turns
// to the next every runs_per_partition runs: the events are keyless, so any
// partition will do, and a run handed to librdkafka with its partition is
// enqueued whole, where its partitioner would read the clock and lock the
// partition per message. A second thread of ours reads each kept topic's
// partition count from the cluster, once and every partition_recount_interval;
// until then, and when PUBLISHER_KAFKA_CLIENT_PARTITIONER or
// _STICKY_PARTITIONING_LINGER_MS is set, librdkafka chooses.
// Kafka's rules for a topic's name: [a-zA-Z0-9._-], at most 249 characters,
// not "." or ".."; two names alike but for '.' and '_' collide in its metric
// names, so a cluster holds only one of them.
core::topic_naming topic_naming();

class kafka_publisher final : public publisher {
 public:
    // `client` holds librdkafka properties. A property librdkafka refuses
    // throws config::invalid_setting naming its PUBLISHER_KAFKA_CLIENT_ key.
    // A shutdown's flush waits up to `flush_timeout`.
    explicit kafka_publisher(const std::map<std::string, std::string>& client,
                             std::chrono::milliseconds flush_timeout = std::chrono::seconds(1));
    ~kafka_publisher() override;

    void publish(std::unique_ptr<core::batch> batch) override;
    std::size_t flush(std::chrono::milliseconds timeout) override;
    std::chrono::milliseconds flush_timeout() const override { return flush_timeout_; }
    void stop_waiting() override;
    bool connected() const override;
    std::optional<std::vector<std::string>> existing_topics() const override;
    std::string_view name() const noexcept override { return "kafka"; }

    // The partitions the publisher spreads the topic's runs over; 0 while
    // librdkafka chooses them.
    std::int32_t partitions_in_use(const std::string& topic);

    // Long turns make big per-partition batches for librdkafka's broker
    // thread: 256 cost 4-6% less server CPU than 32 on four partitions.
    static constexpr std::uint32_t runs_per_partition = 256;
    static constexpr std::chrono::seconds partition_recount_interval{60};

 private:
    struct kept_topic {
        rd_kafka_topic_s* handle = nullptr;
        std::atomic<std::int32_t> partitions{0};
        std::atomic<std::uint32_t> runs{0};
        // The watcher's own: when to read the count next, and how many reads
        // in a row found none.
        std::chrono::steady_clock::time_point next_count{};
        int failed_counts = 0;
    };

    void serve_delivery_reports();
    // rd_kafka_poll(), then reports the run of deliveries it left counted.
    int serve_reports(int timeout_ms);
    void watch_partitions();
    // The topic's partition count from a metadata request; 0 if it has none.
    std::int32_t count_partitions(rd_kafka_topic_s* topic, int timeout_ms);
    // The topic's handle, made once: producing by name makes librdkafka look
    // the topic up under its client-wide write lock for every message.
    // nullptr once max_topic_handles topics are held (event types come from
    // clients); those get a handle for one run of events only.
    kept_topic* keep(const std::string& topic);
    // Produces a run of one batch's events to one topic with one librdkafka
    // call: the topic is locked and the timestamp read once for the run.
    void produce_run(const std::string& topic, std::span<rd_kafka_message_s> run);

    std::chrono::milliseconds flush_timeout_;
    rd_kafka_s* client_ = nullptr;
    std::shared_mutex topics_mutex_;
    std::unordered_map<std::string, std::unique_ptr<kept_topic>> topics_;
    std::atomic<bool> stop_waiting_{false};
    std::atomic<bool> stop_polling_{false};
    std::thread delivery_thread_;

    bool choose_partitions_ = false;
    std::mutex watch_mutex_;
    std::condition_variable watch_wakeup_;
    bool topic_added_ = false;
    bool stop_watching_ = false;
    std::thread partition_watcher_;
};

}  // namespace raccoon::publisher::kafka
