#pragma once

#include <atomic>
#include <map>
#include <memory>
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
// the event bytes, and one thread serving delivery reports, each of which
// counts down the event's batch. librdkafka names its own threads rdk:*.
class kafka_publisher final : public publisher {
 public:
    // `client` holds librdkafka properties. A property librdkafka refuses
    // throws config::invalid_setting naming its PUBLISHER_KAFKA_CLIENT_ key.
    explicit kafka_publisher(const std::map<std::string, std::string>& client);
    ~kafka_publisher() override;

    void publish(std::unique_ptr<core::batch> batch) override;
    std::size_t flush(std::chrono::milliseconds timeout) override;
    void stop_waiting() override;
    bool connected() const override;
    std::string_view name() const noexcept override { return "kafka"; }

 private:
    void serve_delivery_reports();
    // A handle for the topic, made once: producing by name makes librdkafka
    // look the topic up under its client-wide write lock for every message.
    // nullptr once max_topic_handles topics are held (event types come from
    // clients); those get a handle for one run of events only.
    rd_kafka_topic_s* topic_handle(const std::string& topic);
    // Produces a run of one batch's events to one topic with one librdkafka
    // call: the topic is locked and the timestamp read once for the run.
    void produce_run(const std::string& topic, std::span<rd_kafka_message_s> run);

    rd_kafka_s* client_ = nullptr;
    std::shared_mutex topics_mutex_;
    std::unordered_map<std::string, rd_kafka_topic_s*> topics_;
    std::atomic<bool> stop_waiting_{false};
    std::atomic<bool> stop_polling_{false};
    std::thread delivery_thread_;
};

}  // namespace raccoon::publisher::kafka
