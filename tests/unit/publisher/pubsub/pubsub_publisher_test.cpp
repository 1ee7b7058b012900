#include <google/pubsub/v1/pubsub.grpc.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <raccoon/core/batch.hpp>
#include <raccoon/core/error.hpp>
#include <raccoon/publisher/pubsub/pubsub_metrics.hpp>
#include <raccoon/publisher/pubsub/pubsub_publisher.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace raccoon::publisher::pubsub {
namespace {

using namespace std::chrono_literals;
namespace v1 = google::pubsub::v1;

constexpr auto deadline_for_test = 20s;
constexpr std::string_view project = "raccoon-test";

// Pub/Sub's Publisher service as this test steers it: the emulator cannot
// refuse a publish for permission or quota, nor hold one back.
class fake_pubsub final : public v1::Publisher::Service {
 public:
    struct received {
        std::string topic;
        std::vector<std::string> data;
        std::string authorization;
    };

    grpc::Status GetTopic(grpc::ServerContext*, const v1::GetTopicRequest* request,
                          v1::Topic* response) override {
        std::lock_guard lock(mutex_);
        ++lookups_;
        if (!topics_.contains(request->topic())) return {grpc::StatusCode::NOT_FOUND, "no topic"};
        response->set_name(request->topic());
        return grpc::Status::OK;
    }

    grpc::Status CreateTopic(grpc::ServerContext*, const v1::Topic* request,
                             v1::Topic* response) override {
        std::lock_guard lock(mutex_);
        if (!topics_.insert(request->name()).second) {
            return {grpc::StatusCode::ALREADY_EXISTS, "exists"};
        }
        created_.push_back(*request);
        *response = *request;
        return grpc::Status::OK;
    }

    grpc::Status ListTopics(grpc::ServerContext*, const v1::ListTopicsRequest* request,
                            v1::ListTopicsResponse* response) override {
        std::lock_guard lock(mutex_);
        for (const auto& topic : topics_) {
            if (topic.starts_with(request->project() + "/"))
                response->add_topics()->set_name(topic);
        }
        return grpc::Status::OK;
    }

    grpc::Status Publish(grpc::ServerContext* context, const v1::PublishRequest* request,
                         v1::PublishResponse* response) override {
        std::unique_lock lock(mutex_);
        received r{request->topic(), {}, {}};
        for (const auto& message : request->messages()) r.data.push_back(message.data());
        if (auto auth = context->client_metadata().find("authorization");
            auth != context->client_metadata().end()) {
            r.authorization.assign(auth->second.data(), auth->second.size());
        }
        requests_.push_back(std::move(r));
        changed_.notify_all();
        changed_.wait_for(lock, deadline_for_test,
                          [&] { return !hold_ || context->IsCancelled(); });
        if (!topics_.contains(request->topic())) return {grpc::StatusCode::NOT_FOUND, "deleted"};
        if (!publish_status_.ok()) return publish_status_;
        for (int i = 0; i < request->messages_size(); ++i) {
            response->add_message_ids(std::to_string(next_id_++));
        }
        return grpc::Status::OK;
    }

    void add_topic(std::string_view id) {
        std::lock_guard lock(mutex_);
        topics_.insert(path(id));
    }
    void delete_topic(std::string_view id) {
        std::lock_guard lock(mutex_);
        topics_.erase(path(id));
    }
    void fail_publishes(grpc::Status status) {
        std::lock_guard lock(mutex_);
        publish_status_ = std::move(status);
    }
    void hold_publishes(bool hold) {
        {
            std::lock_guard lock(mutex_);
            hold_ = hold;
        }
        changed_.notify_all();
    }
    // Waits until `count` Publish calls arrived; false at the deadline.
    bool wait_for_requests(std::size_t count) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, deadline_for_test,
                                 [&] { return requests_.size() >= count; });
    }
    std::vector<received> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    std::vector<v1::Topic> created() {
        std::lock_guard lock(mutex_);
        return created_;
    }
    int lookups() {
        std::lock_guard lock(mutex_);
        return lookups_;
    }

    static std::string path(std::string_view id) {
        return "projects/" + std::string(project) + "/topics/" + std::string(id);
    }

 private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::set<std::string> topics_;
    std::vector<v1::Topic> created_;
    std::vector<received> requests_;
    grpc::Status publish_status_ = grpc::Status::OK;
    bool hold_ = false;
    int lookups_ = 0;
    int next_id_ = 1;
};

class fake_server {
 public:
    explicit fake_server(
        std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials()) {
        grpc::ServerBuilder builder;
        builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
        builder.RegisterService(&service);
        server_ = builder.BuildAndStart();
    }
    ~fake_server() { stop(); }

    void stop() {
        if (!server_) return;
        service.hold_publishes(false);
        server_->Shutdown(std::chrono::system_clock::now() + 2s);
        server_.reset();
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

    fake_pubsub service;

 private:
    int port_ = 0;
    std::unique_ptr<grpc::Server> server_;
};

class completion_probe {
 public:
    core::batch::completion completion() {
        return [state = state_](const core::batch_result& result) {
            {
                std::lock_guard lock(state->mutex);
                state->results.push_back(result);
            }
            state->changed.notify_all();
        };
    }
    std::optional<core::batch_result> wait(std::chrono::milliseconds timeout = deadline_for_test) {
        std::unique_lock lock(state_->mutex);
        if (!state_->changed.wait_for(lock, timeout, [&] { return !state_->results.empty(); })) {
            return std::nullopt;
        }
        return state_->results.front();
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
std::unique_ptr<core::batch> make_batch(const std::string& topic, std::size_t events,
                                        const std::string& prefix, completion_probe& probe,
                                        const std::string& type = "click") {
    auto b = std::make_unique<core::batch>();
    b->identity.group = "group-a";
    for (std::size_t i = 0; i < events; ++i) {
        core::event e;
        e.type = type;
        e.bytes = prefix + "-" + std::to_string(i);
        e.topic = &topic;
        b->events.push_back(std::move(e));
    }
    b->set_completion(probe.completion());
    return b;
}

pubsub_options emulated(const fake_server& server) {
    pubsub_options options;
    options.project_id = std::string(project);
    options.emulator_host = server.address();
    options.delay_threshold = 10s;
    options.publish_timeout = 5s;
    return options;
}

std::uint64_t counter(metrics::counter_family& family, std::string_view topic,
                      std::string_view type = "click") {
    return family.with({topic, "group-a", type}).value();
}

TEST(PubsubPublisherTest, CountThresholdSendsFullRequestsAndFlushSendsTheRest) {
    fake_server server;
    server.service.add_topic("count-topic");
    auto options = emulated(server);
    options.count_threshold = 3;
    pubsub_publisher publisher(options);
    EXPECT_EQ(publisher.name(), "pubsub");
    const std::string topic = "count-topic";
    const auto delivered_before = counter(process_metrics().pubsub_messages_delivered_total, topic);

    completion_probe probe;
    publisher.publish(make_batch(topic, 7, "count", probe));
    ASSERT_TRUE(server.service.wait_for_requests(2));
    EXPECT_FALSE(probe.wait(200ms).has_value()) << "acked before its last event was published";
    EXPECT_EQ(publisher.flush(5s), 0u);
    const auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok()) << result->detail;

    // The two full requests are in flight at once, so they may arrive in
    // either order; each keeps its events' order.
    auto requests = server.service.requests();
    ASSERT_EQ(requests.size(), 3u);
    std::ranges::sort(requests, {}, [](const auto& r) { return r.data.front(); });
    std::vector<std::string> data;
    for (const auto& r : requests) {
        EXPECT_EQ(r.topic, fake_pubsub::path(topic));
        EXPECT_TRUE(r.authorization.empty()) << "an emulator gets no credentials";
        data.insert(data.end(), r.data.begin(), r.data.end());
    }
    EXPECT_EQ(requests[0].data.size(), 3u);
    EXPECT_EQ(requests[1].data.size(), 3u);
    EXPECT_EQ(requests[2].data.size(), 1u);
    EXPECT_EQ(data, (std::vector<std::string>{"count-0", "count-1", "count-2", "count-3", "count-4",
                                              "count-5", "count-6"}));
    EXPECT_EQ(counter(process_metrics().pubsub_messages_delivered_total, topic),
              delivered_before + 7);
    EXPECT_EQ(publisher.outstanding_messages(), 0u);
}

TEST(PubsubPublisherTest, DelayThresholdSendsWhatWaitedThatLong) {
    fake_server server;
    server.service.add_topic("delay-topic");
    auto options = emulated(server);
    options.delay_threshold = 50ms;
    pubsub_publisher publisher(options);
    const std::string topic = "delay-topic";

    completion_probe probe;
    const auto start = std::chrono::steady_clock::now();
    publisher.publish(make_batch(topic, 2, "delay", probe));
    const auto result = probe.wait();
    ASSERT_TRUE(result.has_value()) << "the delay threshold never sent the events";
    EXPECT_TRUE(result->ok()) << result->detail;
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    ASSERT_EQ(server.service.requests().size(), 1u);
    EXPECT_EQ(server.service.requests()[0].data.size(), 2u);
}

// Each topic's delay is queued while the delay thread waits for the earliest:
// the queue grows (and moves) under that wait, which must not read the moved
// deadline (ASan found it so in the sanitizer suite).
TEST(PubsubPublisherTest, DelaysQueuedWhileTheEarliestIsAwaitedAreEachSent) {
    fake_server server;
    constexpr int topics = 6;
    for (int i = 0; i < topics; ++i) server.service.add_topic("delays-" + std::to_string(i));
    auto options = emulated(server);
    options.delay_threshold = 150ms;
    pubsub_publisher publisher(options);

    std::vector<completion_probe> probes(topics);
    for (int i = 0; i < topics; ++i) {
        publisher.publish(make_batch("delays-" + std::to_string(i), 1, "d", probes[i]));
        std::this_thread::sleep_for(10ms);
    }
    for (auto& probe : probes) {
        const auto result = probe.wait();
        ASSERT_TRUE(result.has_value()) << "a delayed topic was never sent";
        EXPECT_TRUE(result->ok()) << result->detail;
    }
    EXPECT_EQ(server.service.requests().size(), static_cast<std::size_t>(topics));
}

TEST(PubsubPublisherTest, ByteThresholdSendsOnceTheBytesAreReached) {
    fake_server server;
    server.service.add_topic("byte-topic");
    auto options = emulated(server);
    options.byte_threshold = 20;  // each event's bytes are "bytes-N", 7 bytes
    pubsub_publisher publisher(options);
    const std::string topic = "byte-topic";

    completion_probe probe;
    publisher.publish(make_batch(topic, 6, "bytes", probe));
    ASSERT_TRUE(server.service.wait_for_requests(2));
    const auto requests = server.service.requests();
    EXPECT_EQ(requests[0].data.size(), 3u);
    EXPECT_EQ(requests[1].data.size(), 3u);
    const auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok()) << result->detail;
}

TEST(PubsubPublisherTest, AFailedPublishIsTheBatchsErrorWithItsStatus) {
    struct failure {
        grpc::StatusCode code;
        std::string_view name;
        bool possibly_published;
    };
    for (const failure& f :
         {failure{grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED", false},
          failure{grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", false},
          failure{grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE", true}}) {
        SCOPED_TRACE(f.name);
        fake_server server;
        server.service.add_topic("failing-topic");
        server.service.fail_publishes({f.code, "refused by the test"});
        auto options = emulated(server);
        options.count_threshold = 2;
        pubsub_publisher publisher(options);
        const std::string topic = "failing-topic";
        auto& m = process_metrics();
        const auto undelivered_before = counter(m.pubsub_messages_undelivered_total, topic);
        const auto throughput_before = counter(m.pubsub_topic_throughput_exceeded_total, topic);

        completion_probe probe;
        publisher.publish(make_batch(topic, 2, "fail", probe));
        const auto result = probe.wait();
        ASSERT_TRUE(result.has_value());
        EXPECT_EQ(result->error, core::make_error_code(core::errc::publish_failed));
        EXPECT_NE(result->detail.find(f.name), std::string::npos) << result->detail;
        EXPECT_NE(result->detail.find("refused by the test"), std::string::npos) << result->detail;
        EXPECT_NE(result->detail.find(fake_pubsub::path(topic)), std::string::npos)
            << result->detail;
        EXPECT_EQ(result->detail.find("possibly published") != std::string::npos,
                  f.possibly_published)
            << result->detail;
        EXPECT_EQ(counter(m.pubsub_messages_undelivered_total, topic), undelivered_before + 2);
        EXPECT_EQ(counter(m.pubsub_topic_throughput_exceeded_total, topic),
                  throughput_before + (f.code == grpc::StatusCode::RESOURCE_EXHAUSTED ? 2 : 0));
    }
}

TEST(PubsubPublisherTest, APublishPastTheTimeoutFailsAsPossiblyPublished) {
    fake_server server;
    server.service.add_topic("slow-topic");
    server.service.hold_publishes(true);
    auto options = emulated(server);
    options.count_threshold = 1;
    options.publish_timeout = 200ms;
    pubsub_publisher publisher(options);
    const std::string topic = "slow-topic";

    completion_probe probe;
    publisher.publish(make_batch(topic, 1, "slow", probe));
    const auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_NE(result->detail.find("DEADLINE_EXCEEDED"), std::string::npos) << result->detail;
    EXPECT_NE(result->detail.find("possibly published"), std::string::npos) << result->detail;
}

TEST(PubsubPublisherTest, AMissingTopicWithoutAutocreateFailsItsEventsAndIsCounted) {
    fake_server server;
    pubsub_publisher publisher(emulated(server));
    const std::string topic = "absent-topic";
    auto& m = process_metrics();
    const auto unknown_before = counter(m.pubsub_unknown_topic_failure_total, topic);

    completion_probe probe;
    publisher.publish(make_batch(topic, 3, "absent", probe));
    const auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->error, core::make_error_code(core::errc::publish_failed));
    EXPECT_NE(result->detail.find("does not exist"), std::string::npos) << result->detail;
    EXPECT_NE(result->detail.find("PUBLISHER_PUBSUB_TOPIC_AUTOCREATE"), std::string::npos);
    EXPECT_EQ(counter(m.pubsub_unknown_topic_failure_total, topic), unknown_before + 3);
    EXPECT_TRUE(server.service.requests().empty());
    EXPECT_TRUE(server.service.created().empty());

    // Within the recheck interval it is not looked up again; after it, it is.
    const int lookups = server.service.lookups();
    completion_probe again;
    publisher.publish(make_batch(topic, 1, "again", again));
    ASSERT_TRUE(again.wait().has_value());
    EXPECT_EQ(server.service.lookups(), lookups);
    server.service.add_topic(topic);
    std::this_thread::sleep_for(pubsub_publisher::missing_topic_recheck + 100ms);
    completion_probe found;
    publisher.publish(make_batch(topic, 1, "found", found));
    EXPECT_EQ(publisher.flush(5s), 0u);
    const auto after = found.wait();
    ASSERT_TRUE(after.has_value());
    EXPECT_TRUE(after->ok()) << after->detail;
}

TEST(PubsubPublisherTest, AutocreateMakesTheTopicWithItsRetention) {
    fake_server server;
    auto options = emulated(server);
    options.topic_autocreate = true;
    options.topic_retention = 86'400'500ms;
    pubsub_publisher publisher(options);
    const std::string topic = "made-topic";

    completion_probe probe;
    publisher.publish(make_batch(topic, 2, "made", probe));
    EXPECT_EQ(publisher.flush(5s), 0u);
    const auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok()) << result->detail;
    const auto created = server.service.created();
    ASSERT_EQ(created.size(), 1u);
    EXPECT_EQ(created[0].name(), fake_pubsub::path(topic));
    EXPECT_EQ(created[0].message_retention_duration().seconds(), 86'400);
    EXPECT_EQ(created[0].message_retention_duration().nanos(), 500'000'000);
}

TEST(PubsubPublisherTest, ATopicDeletedUnderThePublisherIsMadeAgainWithAutocreate) {
    fake_server server;
    server.service.add_topic("gone-topic");
    auto options = emulated(server);
    options.topic_autocreate = true;
    options.count_threshold = 1;
    pubsub_publisher publisher(options);
    const std::string topic = "gone-topic";

    completion_probe first;
    publisher.publish(make_batch(topic, 1, "first", first));
    ASSERT_TRUE(first.wait().has_value());
    server.service.delete_topic(topic);

    completion_probe deleted;
    publisher.publish(make_batch(topic, 1, "deleted", deleted));
    const auto failed = deleted.wait();
    ASSERT_TRUE(failed.has_value());
    EXPECT_NE(failed->detail.find("NOT_FOUND"), std::string::npos) << failed->detail;

    completion_probe recreated;
    publisher.publish(make_batch(topic, 1, "recreated", recreated));
    const auto result = recreated.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok()) << result->detail;
    EXPECT_EQ(server.service.created().size(), 1u);
}

TEST(PubsubPublisherTest, PublishWaitsAtTheOutstandingBoundUntilStopWaiting) {
    fake_server server;
    server.service.add_topic("full-topic");
    server.service.hold_publishes(true);
    auto options = emulated(server);
    options.count_threshold = 2;
    options.max_outstanding_messages = 2;
    pubsub_publisher publisher(options);
    const std::string topic = "full-topic";

    completion_probe held;
    publisher.publish(make_batch(topic, 2, "held", held));
    ASSERT_TRUE(server.service.wait_for_requests(1));
    EXPECT_EQ(publisher.outstanding_messages(), 2u);
    EXPECT_EQ(process_metrics().pubsub_outstanding_messages.with({}).value(), 2.0);

    completion_probe waiting;
    auto publishing = std::async(
        std::launch::async, [&] { publisher.publish(make_batch(topic, 1, "waiting", waiting)); });
    EXPECT_EQ(publishing.wait_for(300ms), std::future_status::timeout) << "publish() did not wait";
    publisher.stop_waiting();
    ASSERT_EQ(publishing.wait_for(deadline_for_test), std::future_status::ready);
    const auto refused = waiting.wait();
    ASSERT_TRUE(refused.has_value());
    EXPECT_NE(refused->detail.find("outstanding"), std::string::npos) << refused->detail;

    server.service.hold_publishes(false);
    const auto result = held.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok()) << result->detail;
}

TEST(PubsubPublisherTest, WaitingPublishGoesOnOnceAnswersMakeRoom) {
    fake_server server;
    server.service.add_topic("room-topic");
    server.service.hold_publishes(true);
    auto options = emulated(server);
    options.count_threshold = 2;
    options.max_outstanding_messages = 2;
    pubsub_publisher publisher(options);
    const std::string topic = "room-topic";

    completion_probe held;
    publisher.publish(make_batch(topic, 2, "held", held));
    ASSERT_TRUE(server.service.wait_for_requests(1));
    completion_probe next;
    auto publishing = std::async(std::launch::async,
                                 [&] { publisher.publish(make_batch(topic, 2, "next", next)); });
    EXPECT_EQ(publishing.wait_for(300ms), std::future_status::timeout);
    server.service.hold_publishes(false);
    ASSERT_EQ(publishing.wait_for(deadline_for_test), std::future_status::ready);
    const auto result = next.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok()) << result->detail;
}

TEST(PubsubPublisherTest, FlushPastItsTimeoutFailsWhatIsLeft) {
    fake_server server;
    server.service.add_topic("stuck-topic");
    server.service.hold_publishes(true);
    auto options = emulated(server);
    options.count_threshold = 3;
    pubsub_publisher publisher(options);
    const std::string topic = "stuck-topic";

    completion_probe probe;
    publisher.publish(make_batch(topic, 4, "stuck", probe));
    ASSERT_TRUE(server.service.wait_for_requests(1));
    EXPECT_EQ(publisher.flush(200ms), 4u);
    const auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->error, core::make_error_code(core::errc::publish_failed));
    EXPECT_NE(result->detail.find("CANCELLED"), std::string::npos) << result->detail;
    EXPECT_EQ(publisher.outstanding_messages(), 0u);
}

TEST(PubsubPublisherTest, ConnectedAndExistingTopicsAskTheService) {
    fake_server server;
    server.service.add_topic("listed-one");
    server.service.add_topic("listed-two");
    pubsub_publisher publisher(emulated(server));
    EXPECT_TRUE(publisher.connected());
    const auto topics = publisher.existing_topics();
    ASSERT_TRUE(topics.has_value());
    EXPECT_EQ(std::set<std::string>(topics->begin(), topics->end()),
              (std::set<std::string>{"listed-one", "listed-two"}));
    EXPECT_EQ(publisher.flush_timeout(), 5s);

    server.stop();
    EXPECT_FALSE(publisher.connected());
    EXPECT_FALSE(publisher.existing_topics().has_value());
}

TEST(PubsubPublisherTest, TopicNamingFollowsPubsubsRules) {
    const auto naming = topic_naming();
    EXPECT_EQ(naming.name_problem("clickstream-click.log_1~+%"), "");
    EXPECT_EQ(naming.name_problem(std::string(255, 'a')), "");
    EXPECT_NE(naming.name_problem("ab"), "");
    EXPECT_NE(naming.name_problem(std::string(256, 'a')), "");
    EXPECT_NE(naming.name_problem("1topic"), "");
    EXPECT_NE(naming.name_problem("-topic"), "");
    EXPECT_NE(naming.name_problem("google-topic"), "");
    EXPECT_NE(naming.name_problem("topic/name"), "");
    EXPECT_NE(naming.name_problem("topic name"), "");
    EXPECT_NE(naming.name_problem("t\xc3\xa9pic"), "");
    EXPECT_FALSE(naming.collision_key);
}

// A certificate for `name`, signed by its own key: what the test server shows.
struct test_certificate {
    std::string certificate_pem;
    std::string private_key_pem;
};

std::string pem_of(auto write) {
    std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(length)};
}

test_certificate make_certificate(const std::string& name, EVP_PKEY* key) {
    std::unique_ptr<X509, void (*)(X509*)> certificate(X509_new(), X509_free);
    X509_set_version(certificate.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 3600);
    X509_set_pubkey(certificate.get(), key);
    X509_NAME* subject = X509_get_subject_name(certificate.get());
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    X509_set_issuer_name(certificate.get(), subject);
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, certificate.get(), certificate.get(), nullptr, nullptr, 0);
    const std::string san = "DNS:" + name;
    X509_EXTENSION* extension =
        X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, san.c_str());
    X509_add_ext(certificate.get(), extension, -1);
    X509_EXTENSION_free(extension);
    X509_sign(certificate.get(), key, EVP_sha256());
    return {pem_of([&](BIO* bio) { PEM_write_bio_X509(bio, certificate.get()); }),
            pem_of([&](BIO* bio) {
                PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
            })};
}

TEST(PubsubPublisherTest, WithoutAnEmulatorItSpeaksTlsWithTheAccountsBearerToken) {
    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> server_key(EVP_RSA_gen(2048), EVP_PKEY_free);
    const auto certificate = make_certificate("pubsub.test", server_key.get());
    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back({certificate.private_key_pem, certificate.certificate_pem});
    fake_server server(grpc::SslServerCredentials(tls));
    server.service.add_topic("secure-topic");

    std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> account_key(EVP_RSA_gen(2048), EVP_PKEY_free);
    const auto key_file = std::filesystem::temp_directory_path() /
                          ("raccoon-pubsub-key-" + std::to_string(::getpid()) + ".json");
    std::ofstream(key_file) << nlohmann::json{{"type", "service_account"},
                                              {"private_key_id", "kid-7"},
                                              {"private_key", pem_of([&](BIO* bio) {
                                                   PEM_write_bio_PrivateKey(bio, account_key.get(),
                                                                            nullptr, nullptr, 0,
                                                                            nullptr, nullptr);
                                               })},
                                              {"client_email",
                                               "publisher@raccoon-test.iam.gserviceaccount.com"}}
                                   .dump();

    pubsub_options options;
    options.project_id = std::string(project);
    options.endpoint = server.address();
    options.tls_root_certificates = certificate.certificate_pem;
    options.tls_server_name = "pubsub.test";
    options.credentials_file = key_file.string();
    options.count_threshold = 1;
    pubsub_publisher publisher(options);
    std::filesystem::remove(key_file);

    const std::string topic = "secure-topic";
    completion_probe probe;
    publisher.publish(make_batch(topic, 1, "secure", probe));
    const auto result = probe.wait();
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->ok()) << result->detail;

    const auto requests = server.service.requests();
    ASSERT_EQ(requests.size(), 1u);
    const std::string& authorization = requests[0].authorization;
    ASSERT_TRUE(authorization.starts_with("Bearer ")) << authorization;
    const std::string token = authorization.substr(7);
    const auto first_dot = token.find('.');
    const auto second_dot = token.find('.', first_dot + 1);
    ASSERT_NE(second_dot, std::string::npos);
    std::string claims_text = token.substr(first_dot + 1, second_dot - first_dot - 1);
    for (char& c : claims_text) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
    }
    while (claims_text.size() % 4 != 0) claims_text.push_back('=');
    std::string decoded(claims_text.size(), '\0');
    const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                       reinterpret_cast<const unsigned char*>(claims_text.data()),
                                       static_cast<int>(claims_text.size()));
    ASSERT_GT(length, 0);
    decoded.resize(decoded.find('}') + 1);
    const auto claims = nlohmann::json::parse(decoded);
    EXPECT_EQ(claims["iss"], "publisher@raccoon-test.iam.gserviceaccount.com");
    EXPECT_EQ(claims["aud"], "https://pubsub.googleapis.com/");
}

TEST(PubsubPublisherTest, AnUnreadableKeyFileStopsTheStart) {
    pubsub_options options;
    options.project_id = std::string(project);
    options.credentials_file = "/nonexistent/raccoon-key.json";
    EXPECT_THROW(pubsub_publisher publisher(options), std::runtime_error);
}

}  // namespace
}  // namespace raccoon::publisher::pubsub
