#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <raccoon/core/topic_policy.hpp>
#include <raccoon/publisher/kinesis/api_connection.hpp>
#include <raccoon/publisher/kinesis/aws_config.hpp>
#include <raccoon/publisher/publisher.hpp>
#include <string>
#include <string_view>

namespace raccoon::publisher::kinesis {

// Kinesis's rules for a stream's name: 1 to 128 characters of [a-zA-Z0-9_.-].
core::topic_naming topic_naming();

enum class stream_mode { on_demand, provisioned };

struct kinesis_options {
    // Create a missing stream in `mode` (with `stream_shards` when
    // PROVISIONED) and wait until it is ACTIVE, asking every
    // `stream_probe_interval`; without it a missing stream fails its events.
    bool stream_autocreate = false;
    std::chrono::milliseconds stream_probe_interval{1000};
    stream_mode mode = stream_mode::on_demand;
    int stream_shards = 4;
    // How long an event may wait for Kinesis, retries included, before it
    // fails in its batch's ack; also how long a shutdown's flush waits.
    std::chrono::milliseconds publish_timeout{60000};
    // What publish() lets wait for Kinesis before it waits itself.
    std::size_t max_outstanding_messages = 100000;
    std::size_t max_outstanding_bytes = 64 * 1024 * 1024;
    // PutRecords calls at once, one connection and thread each.
    std::size_t connections = 4;
};

// The region, credentials and endpoint the AWS settings and variables name
// (aws_config.hpp), as signed connections. Throws aws_config_error.
connection_factory aws_connections(std::string_view region_setting,
                                   const std::string& credentials_file, const environment& env);

// Publishes to Kinesis Data Streams with PutRecords: each stream's events
// queue in the order published and go in calls of up to 500 records and
// 5 MiB, spread evenly over the stream's open shards (an explicit hash key
// per record, turning shard by shard). A record Kinesis refuses (throttled,
// internal failure) goes again alone, after a growing pause, until
// publish_timeout since it was published; then it fails in its batch's ack
// with the reason. Threads kinesis-send-N make the calls; what they have not
// reported is bounded in messages and bytes, beyond which publish() waits.
class kinesis_publisher final : public publisher {
 public:
    kinesis_publisher(kinesis_options options, connection_factory connect);
    ~kinesis_publisher() override;

    void publish(std::unique_ptr<core::batch> batch) override;
    std::size_t flush(std::chrono::milliseconds timeout) override;
    std::chrono::milliseconds flush_timeout() const override;
    void stop_waiting() override;
    // Kinesis answered ListStreams (or refused it for permissions only).
    bool connected() const override;
    std::optional<std::vector<std::string>> existing_topics() const override;
    std::string_view name() const noexcept override { return "kinesis"; }

    // One API call's longest wait.
    static constexpr std::chrono::seconds call_timeout{10};
    // How often an active stream's shards are listed again (an ON_DEMAND
    // stream splits and merges them by itself).
    static constexpr std::chrono::seconds shard_refresh_interval{60};

 private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace raccoon::publisher::kinesis
