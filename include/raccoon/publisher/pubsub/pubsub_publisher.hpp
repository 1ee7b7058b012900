#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <raccoon/core/topic_policy.hpp>
#include <raccoon/publisher/publisher.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace raccoon::publisher::pubsub {

// Pub/Sub's rules for a topic's ID: 3 to 255 characters of [A-Za-z0-9-_.~+%],
// starting with a letter, not starting with "goog".
core::topic_naming topic_naming();

struct pubsub_options {
    std::string project_id;
    // A service account's JSON key; read when no emulator is named.
    std::string credentials_file;
    // host:port of an emulator (PUBSUB_EMULATOR_HOST, as Google's clients read
    // it): plaintext, no credentials. Empty: `endpoint` over TLS.
    std::string emulator_host;
    std::string endpoint = "pubsub.googleapis.com:443";
    // PEM roots that `endpoint`'s certificate must chain to; empty: the system's.
    std::string tls_root_certificates;
    // The name `endpoint`'s certificate must carry; empty: the endpoint's host.
    std::string tls_server_name;
    bool topic_autocreate = false;
    // A created topic's message retention; 0 leaves Pub/Sub's default.
    std::chrono::milliseconds topic_retention{0};
    // How long one Publish call may take, and a shutdown's flush.
    std::chrono::milliseconds publish_timeout{60000};
    // A topic's messages are sent once the first has waited this long, or
    // once they are this many, or this many bytes, whichever comes first.
    std::chrono::milliseconds delay_threshold{10};
    std::size_t count_threshold = 100;
    std::size_t byte_threshold = 1000000;
    // Past either, publish() waits for Pub/Sub's answers.
    std::size_t max_outstanding_messages = 100000;
    std::size_t max_outstanding_bytes = 100 * 1024 * 1024;
};

// Publishes to Google Cloud Pub/Sub over its gRPC API: each event one message
// whose data is the event's bytes. A topic's messages are batched by the three
// thresholds and sent with one asynchronous Publish, whose answer reports
// every event of it to its batch; a failed Publish is each of its events'
// error, with the status and its text. A topic is looked up (and, with
// autocreate, made) on its first event and again after Pub/Sub says it is
// gone; a topic found missing fails its events for a second before it is
// looked up again.
//
// Threads: one of ours ("pubsub-delay") sends what waited the delay
// threshold; gRPC's own threads run the answers.
class pubsub_publisher final : public publisher {
 public:
    // Throws std::runtime_error when the credentials cannot be read.
    explicit pubsub_publisher(pubsub_options options);
    ~pubsub_publisher() override;

    void publish(std::unique_ptr<core::batch> batch) override;
    std::size_t flush(std::chrono::milliseconds timeout) override;
    std::chrono::milliseconds flush_timeout() const override;
    void stop_waiting() override;
    bool connected() const override;
    std::optional<std::vector<std::string>> existing_topics() const override;
    std::string_view name() const noexcept override { return "pubsub"; }

    // Events handed to publish() and not yet answered by Pub/Sub.
    std::size_t outstanding_messages() const;

    // How long a topic found missing fails its events before it is looked up again.
    static constexpr std::chrono::seconds missing_topic_recheck{1};
    // Pub/Sub's own limits on one Publish request.
    static constexpr std::size_t max_request_messages = 1000;
    static constexpr std::size_t max_request_bytes = 9 * 1000 * 1000;

 private:
    class impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace raccoon::publisher::pubsub
