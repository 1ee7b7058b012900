#include <google/pubsub/v1/pubsub.grpc.pb.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <queue>
#include <raccoon/core/error.hpp>
#include <raccoon/grpc_runtime/callback_queue.hpp>
#include <raccoon/publisher/pubsub/pubsub_metrics.hpp>
#include <raccoon/publisher/pubsub/pubsub_publisher.hpp>
#include <raccoon/publisher/pubsub/service_account.hpp>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

namespace raccoon::publisher::pubsub {
namespace {

namespace v1 = google::pubsub::v1;
using steady = std::chrono::steady_clock;

constexpr std::string_view audience = "https://pubsub.googleapis.com/";
// Lookups, creations and listings of topics: short, so a worker that looks a
// topic up is not held long when Pub/Sub does not answer.
constexpr auto admin_timeout = std::chrono::seconds(10);
constexpr auto readiness_timeout = std::chrono::seconds(1);
constexpr int max_listed_pages = 100;
// A shutdown's cancelled calls answer at once; this only bounds a gRPC fault.
constexpr auto cancelled_calls_wait = std::chrono::seconds(10);

// The bearer token of every call, from the service account's own JWT.
class bearer_token_plugin final : public grpc::MetadataCredentialsPlugin {
 public:
    explicit bearer_token_plugin(std::shared_ptr<jwt_token_source> source)
        : source_(std::move(source)) {}

    bool IsBlocking() const override { return false; }

    grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                             std::multimap<grpc::string, grpc::string>* metadata) override {
        try {
            metadata->emplace("authorization", "Bearer " + source_->token());
            return grpc::Status::OK;
        } catch (const std::exception& e) {
            return {grpc::StatusCode::UNAUTHENTICATED, e.what()};
        }
    }

 private:
    std::shared_ptr<jwt_token_source> source_;
};

std::string_view code_name(grpc::StatusCode code) {
    switch (code) {
        case grpc::StatusCode::OK:
            return "OK";
        case grpc::StatusCode::CANCELLED:
            return "CANCELLED";
        case grpc::StatusCode::UNKNOWN:
            return "UNKNOWN";
        case grpc::StatusCode::INVALID_ARGUMENT:
            return "INVALID_ARGUMENT";
        case grpc::StatusCode::DEADLINE_EXCEEDED:
            return "DEADLINE_EXCEEDED";
        case grpc::StatusCode::NOT_FOUND:
            return "NOT_FOUND";
        case grpc::StatusCode::ALREADY_EXISTS:
            return "ALREADY_EXISTS";
        case grpc::StatusCode::PERMISSION_DENIED:
            return "PERMISSION_DENIED";
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
            return "RESOURCE_EXHAUSTED";
        case grpc::StatusCode::FAILED_PRECONDITION:
            return "FAILED_PRECONDITION";
        case grpc::StatusCode::ABORTED:
            return "ABORTED";
        case grpc::StatusCode::OUT_OF_RANGE:
            return "OUT_OF_RANGE";
        case grpc::StatusCode::UNIMPLEMENTED:
            return "UNIMPLEMENTED";
        case grpc::StatusCode::INTERNAL:
            return "INTERNAL";
        case grpc::StatusCode::UNAVAILABLE:
            return "UNAVAILABLE";
        case grpc::StatusCode::DATA_LOSS:
            return "DATA_LOSS";
        case grpc::StatusCode::UNAUTHENTICATED:
            return "UNAUTHENTICATED";
        default:
            return "UNRECOGNIZED";
    }
}

// A call that ended this way may have reached Pub/Sub before it failed: a
// client retrying its events may make duplicates, and is told so.
bool possibly_published(grpc::StatusCode code) {
    return code == grpc::StatusCode::DEADLINE_EXCEEDED || code == grpc::StatusCode::UNAVAILABLE ||
           code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::UNKNOWN ||
           code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::ABORTED;
}

std::string describe(std::string_view what, const std::string& path, const grpc::Status& status) {
    std::string text = "Pub/Sub " + std::string(what) + " " + path +
                       " failed: " + std::string(code_name(status.error_code()));
    if (!status.error_message().empty()) text += ": " + status.error_message();
    return text;
}

// Which of upstream's failure counters an event's failure adds to, besides
// pubsub_messages_undelivered_total.
enum class failure_kind { other, unknown_topic, topics_limit, throughput };

struct topic_entry {
    enum state_value { unknown, present, missing };

    topic_entry(std::string topic_id, std::string topic_path)
        : id(std::move(topic_id)), path(std::move(topic_path)) {}

    const std::string id;
    const std::string path;

    std::atomic<int> state{unknown};
    // One lookup at a time; the rest wait for its outcome.
    std::mutex lookup_mutex;
    steady::time_point missing_until{};
    std::string missing_reason;

    std::mutex pending_mutex;
    std::vector<core::event*> pending;
    std::size_t pending_bytes = 0;
    // Counts the pending lists sent; a delay scheduled for an earlier one is void.
    std::uint64_t generation = 0;
    std::uint64_t delayed_generation = ~std::uint64_t{0};
};

struct lookup_outcome {
    bool usable = true;
    std::string reason;
    failure_kind kind = failure_kind::other;
};

struct delayed_send {
    steady::time_point at;
    topic_entry* topic;
    std::uint64_t generation;
    bool operator>(const delayed_send& other) const { return at > other.at; }
};

std::size_t size_of(const std::vector<core::event*>& events) {
    std::size_t bytes = 0;
    for (const core::event* e : events) bytes += e->bytes.size();
    return bytes;
}

}  // namespace

core::topic_naming topic_naming() {
    constexpr std::size_t min_length = 3;
    constexpr std::size_t max_length = 255;
    return {[](std::string_view topic) -> std::string {
                if (topic.size() < min_length || topic.size() > max_length) {
                    return "is " + std::to_string(topic.size()) +
                           " characters; Pub/Sub's topics have 3 to 255";
                }
                if (!std::isalpha(static_cast<unsigned char>(topic.front())) ||
                    static_cast<unsigned char>(topic.front()) >= 0x80) {
                    return "does not start with a letter, as Pub/Sub's topics do";
                }
                if (topic.starts_with("goog"))
                    return "starts with \"goog\", which Pub/Sub reserves";
                for (const char c : topic) {
                    const auto u = static_cast<unsigned char>(c);
                    if (!(std::isalnum(u) && u < 0x80) &&
                        std::string_view("-_.~+%").find(c) == std::string_view::npos) {
                        return "holds a character Pub/Sub does not allow (only a-z, A-Z, 0-9 and "
                               "'-', '_', '.', '~', '+', '%')";
                    }
                }
                return {};
            },
            nullptr};
}

class pubsub_publisher::impl {
 public:
    explicit impl(pubsub_options options);
    ~impl();

    void publish(std::unique_ptr<core::batch> owned);
    std::size_t flush(std::chrono::milliseconds timeout);
    void stop_waiting();
    bool connected() const;
    std::optional<std::vector<std::string>> existing_topics() const;
    std::size_t outstanding_messages() const;
    std::chrono::milliseconds publish_timeout() const { return options_.publish_timeout; }

 private:
    struct publish_call {
        topic_entry* topic = nullptr;
        std::vector<core::event*> events;
        std::size_t bytes = 0;
        grpc::ClientContext context;
        v1::PublishRequest request;
        v1::PublishResponse response;
    };

    topic_entry& entry(const std::string& topic_id);
    lookup_outcome look_up(topic_entry& topic);
    void publish_run(const std::string& topic_id, const std::vector<core::event*>& run);
    // Waits for room for `count` events of `bytes`; false once stop_waiting()
    // was called and there is none.
    bool acquire(std::size_t count, std::size_t bytes);
    void release(std::size_t count, std::size_t bytes);
    void add_pending(topic_entry& topic, const std::vector<core::event*>& run);
    // Under the topic's pending_mutex: hands out its pending events.
    std::vector<core::event*> take_pending(topic_entry& topic, std::size_t& bytes);
    void send(topic_entry& topic, std::vector<core::event*> events, std::size_t bytes);
    void send_all_pending();
    void on_published(publish_call& call, const grpc::Status& status);
    void report_delivered(const std::vector<core::event*>& events, const std::string& topic_id);
    void report_failed(const std::vector<core::event*>& events, const std::string& topic_id,
                       const std::string& reason, failure_kind kind);
    void schedule(topic_entry& topic, std::uint64_t generation);
    void send_delayed();

    const pubsub_options options_;
    const std::string project_path_;
    const std::size_t count_limit_;
    const std::size_t byte_limit_;
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<v1::Publisher::Stub> stub_;

    std::shared_mutex topics_mutex_;
    std::unordered_map<std::string, std::unique_ptr<topic_entry>> topics_;

    mutable std::mutex flow_mutex_;
    std::condition_variable room_;
    std::size_t outstanding_messages_ = 0;
    std::size_t outstanding_bytes_ = 0;
    bool stop_waiting_ = false;

    std::mutex calls_mutex_;
    std::condition_variable calls_done_;
    // Shared with each call's answer: a call being cancelled outlives its answer.
    std::unordered_map<publish_call*, std::shared_ptr<publish_call>> in_flight_;
    // Set once a flush gave up: every call, in flight or new, is cancelled.
    bool cancel_calls_ = false;

    std::mutex delay_mutex_;
    std::condition_variable delay_wakeup_;
    std::priority_queue<delayed_send, std::vector<delayed_send>, std::greater<>> delays_;
    bool stop_delays_ = false;
    std::thread delay_thread_;
};

pubsub_publisher::impl::impl(pubsub_options options)
    : options_(std::move(options)),
      project_path_("projects/" + options_.project_id),
      count_limit_(std::clamp<std::size_t>(options_.count_threshold, 1, max_request_messages)),
      byte_limit_(std::clamp<std::size_t>(options_.byte_threshold, 1, max_request_bytes)) {
    process_metrics();
    grpc_runtime::pin_callback_queue();
    grpc::ChannelArguments arguments;
    // A restarted Pub/Sub (or emulator) is reconnected to within a second,
    // not after gRPC's default backoff of up to two minutes.
    arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    arguments.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, -1);
    if (!options_.emulator_host.empty()) {
        channel_ = grpc::CreateCustomChannel(options_.emulator_host,
                                             grpc::InsecureChannelCredentials(), arguments);
    } else {
        grpc::SslCredentialsOptions tls;
        tls.pem_root_certs = options_.tls_root_certificates;
        if (!options_.tls_server_name.empty()) {
            arguments.SetSslTargetNameOverride(options_.tls_server_name);
        }
        std::shared_ptr<grpc::CallCredentials> call_credentials;
        if (!options_.credentials_file.empty()) {
            call_credentials = grpc::MetadataCredentialsFromPlugin(
                std::make_unique<bearer_token_plugin>(std::make_shared<jwt_token_source>(
                    read_service_account_key(options_.credentials_file), std::string(audience))));
        }
        // Without a key file: Google's application default credentials (the
        // metadata server of GCE and GKE's workload identity among them).
        auto credentials = call_credentials ? grpc::CompositeChannelCredentials(
                                                  grpc::SslCredentials(tls), call_credentials)
                                            : grpc::GoogleDefaultCredentials();
        if (!credentials) {
            throw std::runtime_error(
                "no Google credentials: set PUBLISHER_PUBSUB_CREDENTIALS or "
                "GOOGLE_APPLICATION_CREDENTIALS to a service account's key, or "
                "PUBSUB_EMULATOR_HOST to an emulator");
        }
        channel_ = grpc::CreateCustomChannel(options_.endpoint, credentials, arguments);
    }
    stub_ = v1::Publisher::NewStub(channel_);
    delay_thread_ = std::thread([this] { send_delayed(); });
}

pubsub_publisher::impl::~impl() {
    if (outstanding_messages() > 0) flush(std::chrono::milliseconds(0));
    {
        std::lock_guard lock(delay_mutex_);
        stop_delays_ = true;
    }
    delay_wakeup_.notify_all();
    delay_thread_.join();
    std::unique_lock lock(calls_mutex_);
    if (!calls_done_.wait_for(lock, cancelled_calls_wait, [this] { return in_flight_.empty(); })) {
        spdlog::error("pubsub: {} cancelled Publish calls never ended", in_flight_.size());
    }
}

topic_entry& pubsub_publisher::impl::entry(const std::string& topic_id) {
    {
        std::shared_lock lock(topics_mutex_);
        if (auto found = topics_.find(topic_id); found != topics_.end()) return *found->second;
    }
    std::lock_guard lock(topics_mutex_);
    auto& slot = topics_[topic_id];
    if (!slot)
        slot = std::make_unique<topic_entry>(topic_id, project_path_ + "/topics/" + topic_id);
    return *slot;
}

lookup_outcome pubsub_publisher::impl::look_up(topic_entry& topic) {
    if (topic.state.load(std::memory_order_acquire) == topic_entry::present) return {};
    std::lock_guard lock(topic.lookup_mutex);
    const int state = topic.state.load(std::memory_order_acquire);
    if (state == topic_entry::present) return {};
    const auto now = steady::now();
    if (state == topic_entry::missing && now < topic.missing_until) {
        return {false, topic.missing_reason, failure_kind::unknown_topic};
    }

    grpc::ClientContext get_context;
    get_context.set_deadline(std::chrono::system_clock::now() + admin_timeout);
    v1::GetTopicRequest get;
    get.set_topic(topic.path);
    v1::Topic found;
    const grpc::Status got = stub_->GetTopic(&get_context, get, &found);
    if (got.ok()) {
        topic.state.store(topic_entry::present, std::memory_order_release);
        return {};
    }
    if (got.error_code() != grpc::StatusCode::NOT_FOUND) {
        return {false, describe("lookup of topic", topic.path, got), failure_kind::other};
    }
    if (!options_.topic_autocreate) {
        topic.missing_reason = "Pub/Sub topic " + topic.path +
                               " does not exist (PUBLISHER_PUBSUB_TOPIC_AUTOCREATE is false)";
        topic.missing_until = now + missing_topic_recheck;
        topic.state.store(topic_entry::missing, std::memory_order_release);
        return {false, topic.missing_reason, failure_kind::unknown_topic};
    }

    grpc::ClientContext create_context;
    create_context.set_deadline(std::chrono::system_clock::now() + admin_timeout);
    v1::Topic create;
    create.set_name(topic.path);
    if (options_.topic_retention.count() > 0) {
        const auto seconds = std::chrono::floor<std::chrono::seconds>(options_.topic_retention);
        create.mutable_message_retention_duration()->set_seconds(seconds.count());
        create.mutable_message_retention_duration()->set_nanos(
            static_cast<std::int32_t>((options_.topic_retention - seconds).count() * 1'000'000));
    }
    v1::Topic created;
    const grpc::Status made = stub_->CreateTopic(&create_context, create, &created);
    if (made.ok() || made.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
        if (made.ok()) spdlog::info("pubsub: created topic {}", topic.path);
        topic.state.store(topic_entry::present, std::memory_order_release);
        return {};
    }
    return {false, describe("creation of topic", topic.path, made),
            made.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ? failure_kind::topics_limit
                                                                      : failure_kind::other};
}

void pubsub_publisher::impl::publish(std::unique_ptr<core::batch> owned) {
    const std::size_t count = owned->events.size();
    core::batch* b = core::batch::start_delivery(std::move(owned));
    // From here on the batch is deleted by the report of its last event: an
    // event is read only before it is handed on, and those still to come keep
    // the batch alive.
    thread_local std::vector<core::event*> run;
    std::size_t next = 0;
    while (next < count) {
        const std::string* topic = b->events[next].topic;
        run.clear();
        for (; next < count && b->events[next].topic == topic; ++next) {
            run.push_back(&b->events[next]);
        }
        publish_run(*topic, run);
    }
}

void pubsub_publisher::impl::publish_run(const std::string& topic_id,
                                         const std::vector<core::event*>& run) {
    topic_entry& topic = entry(topic_id);
    if (lookup_outcome outcome = look_up(topic); !outcome.usable) {
        return report_failed(run, topic_id, outcome.reason, outcome.kind);
    }
    if (!acquire(run.size(), size_of(run))) {
        return report_failed(run, topic_id,
                             "the Pub/Sub publisher's outstanding events stayed at their bound "
                             "until shutdown",
                             failure_kind::other);
    }
    add_pending(topic, run);
}

bool pubsub_publisher::impl::acquire(std::size_t count, std::size_t bytes) {
    std::unique_lock lock(flow_mutex_);
    // A run larger than the bounds goes alone rather than never.
    const auto fits = [&] {
        return outstanding_messages_ == 0 ||
               (outstanding_messages_ + count <= options_.max_outstanding_messages &&
                outstanding_bytes_ + bytes <= options_.max_outstanding_bytes);
    };
    room_.wait(lock, [&] { return fits() || stop_waiting_; });
    if (!fits()) return false;
    outstanding_messages_ += count;
    outstanding_bytes_ += bytes;
    auto& m = process_metrics();
    m.pubsub_outstanding_messages.with({}).set(static_cast<double>(outstanding_messages_));
    m.pubsub_outstanding_bytes.with({}).set(static_cast<double>(outstanding_bytes_));
    return true;
}

void pubsub_publisher::impl::release(std::size_t count, std::size_t bytes) {
    {
        std::lock_guard lock(flow_mutex_);
        outstanding_messages_ -= count;
        outstanding_bytes_ -= bytes;
        auto& m = process_metrics();
        m.pubsub_outstanding_messages.with({}).set(static_cast<double>(outstanding_messages_));
        m.pubsub_outstanding_bytes.with({}).set(static_cast<double>(outstanding_bytes_));
    }
    room_.notify_all();
}

std::vector<core::event*> pubsub_publisher::impl::take_pending(topic_entry& topic,
                                                               std::size_t& bytes) {
    bytes = std::exchange(topic.pending_bytes, 0);
    ++topic.generation;
    std::vector<core::event*> taken;
    taken.reserve(count_limit_);
    taken.swap(topic.pending);
    return taken;
}

void pubsub_publisher::impl::add_pending(topic_entry& topic, const std::vector<core::event*>& run) {
    struct ready_call {
        std::vector<core::event*> events;
        std::size_t bytes = 0;
    };
    std::vector<ready_call> ready;
    bool delay = false;
    std::uint64_t generation = 0;
    {
        std::lock_guard lock(topic.pending_mutex);
        for (core::event* e : run) {
            const std::size_t size = e->bytes.size();
            if (!topic.pending.empty() && topic.pending_bytes + size > max_request_bytes) {
                auto& call = ready.emplace_back();
                call.events = take_pending(topic, call.bytes);
            }
            topic.pending.push_back(e);
            topic.pending_bytes += size;
            if (topic.pending.size() >= count_limit_ || topic.pending_bytes >= byte_limit_) {
                auto& call = ready.emplace_back();
                call.events = take_pending(topic, call.bytes);
            }
        }
        if (!topic.pending.empty() && topic.delayed_generation != topic.generation) {
            topic.delayed_generation = topic.generation;
            generation = topic.generation;
            delay = true;
        }
    }
    if (delay) schedule(topic, generation);
    for (auto& call : ready) send(topic, std::move(call.events), call.bytes);
}

void pubsub_publisher::impl::schedule(topic_entry& topic, std::uint64_t generation) {
    const auto at = steady::now() + options_.delay_threshold;
    bool earliest = false;
    {
        std::lock_guard lock(delay_mutex_);
        earliest = delays_.empty() || at < delays_.top().at;
        delays_.push({at, &topic, generation});
    }
    if (earliest) delay_wakeup_.notify_one();
}

void pubsub_publisher::impl::send_delayed() {
    pthread_setname_np(pthread_self(), "pubsub-delay");
    std::vector<delayed_send> due;
    std::unique_lock lock(delay_mutex_);
    while (!stop_delays_) {
        if (delays_.empty()) {
            delay_wakeup_.wait(lock, [this] { return stop_delays_ || !delays_.empty(); });
            continue;
        }
        // A copy: a push while this waits may move the queue's storage, and
        // wait_until reads its deadline again after waking.
        const steady::time_point next = delays_.top().at;
        if (delay_wakeup_.wait_until(lock, next) == std::cv_status::no_timeout) continue;
        const auto now = steady::now();
        while (!delays_.empty() && delays_.top().at <= now) {
            due.push_back(delays_.top());
            delays_.pop();
        }
        lock.unlock();
        for (const delayed_send& d : due) {
            std::vector<core::event*> events;
            std::size_t bytes = 0;
            {
                std::lock_guard pending(d.topic->pending_mutex);
                if (d.topic->generation != d.generation || d.topic->pending.empty()) continue;
                events = take_pending(*d.topic, bytes);
            }
            send(*d.topic, std::move(events), bytes);
        }
        due.clear();
        lock.lock();
    }
}

void pubsub_publisher::impl::send_all_pending() {
    std::vector<topic_entry*> topics;
    {
        std::shared_lock lock(topics_mutex_);
        for (const auto& [id, topic] : topics_) topics.push_back(topic.get());
    }
    for (topic_entry* topic : topics) {
        std::vector<core::event*> events;
        std::size_t bytes = 0;
        {
            std::lock_guard lock(topic->pending_mutex);
            if (topic->pending.empty()) continue;
            events = take_pending(*topic, bytes);
        }
        send(*topic, std::move(events), bytes);
    }
}

void pubsub_publisher::impl::send(topic_entry& topic, std::vector<core::event*> events,
                                  std::size_t bytes) {
    auto call = std::make_shared<publish_call>();
    call->topic = &topic;
    call->bytes = bytes;
    call->request.set_topic(topic.path);
    call->request.mutable_messages()->Reserve(static_cast<int>(events.size()));
    // The bytes move into the request: nothing reads an event's bytes once
    // it is handed to the publisher.
    for (core::event* e : events) call->request.add_messages()->set_data(std::move(e->bytes));
    call->events = std::move(events);
    call->context.set_deadline(std::chrono::system_clock::now() + options_.publish_timeout);
    bool cancel = false;
    {
        std::lock_guard lock(calls_mutex_);
        in_flight_.emplace(call.get(), call);
        cancel = cancel_calls_;
    }
    stub_->async()->Publish(&call->context, &call->request, &call->response,
                            [this, call](grpc::Status status) { on_published(*call, status); });
    if (cancel) call->context.TryCancel();
}

void pubsub_publisher::impl::on_published(publish_call& call, const grpc::Status& status) {
    if (status.ok()) {
        report_delivered(call.events, call.topic->id);
    } else {
        std::string reason = describe("publish to", call.topic->path, status);
        if (possibly_published(status.error_code())) reason += " (possibly published)";
        failure_kind kind = failure_kind::other;
        if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
            // Deleted since it was looked up: looked up again (and made again,
            // with autocreate) by the next event for it.
            kind = failure_kind::unknown_topic;
            call.topic->state.store(topic_entry::unknown, std::memory_order_release);
        } else if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
            kind = failure_kind::throughput;
        }
        report_failed(call.events, call.topic->id, reason, kind);
    }
    release(call.events.size(), call.bytes);
    std::lock_guard lock(calls_mutex_);
    in_flight_.erase(&call);
    if (in_flight_.empty()) calls_done_.notify_all();
}

void pubsub_publisher::impl::report_delivered(const std::vector<core::event*>& events,
                                              const std::string& topic_id) {
    auto& delivered = process_metrics().pubsub_messages_delivered_total;
    // A run of one batch's events of one type is counted and reported at
    // once; the next run's first event is read before this run's report,
    // which may delete its batch.
    std::size_t first = 0;
    while (first < events.size()) {
        core::batch* owner = events[first]->owner;
        const std::string& type = events[first]->type;
        std::size_t end = first + 1;
        while (end < events.size() && events[end]->owner == owner && events[end]->type == type) {
            ++end;
        }
        delivered.with({topic_id, owner->identity.group, type}).add(end - first);
        owner->report_deliveries(end - first);
        first = end;
    }
}

void pubsub_publisher::impl::report_failed(const std::vector<core::event*>& events,
                                           const std::string& topic_id, const std::string& reason,
                                           failure_kind kind) {
    auto& m = process_metrics();
    const auto error = core::make_error_code(core::errc::publish_failed);
    for (core::event* e : events) {
        const std::initializer_list<std::string_view> labels = {topic_id, e->owner->identity.group,
                                                                e->type};
        m.pubsub_messages_undelivered_total.with(labels).add();
        switch (kind) {
            case failure_kind::unknown_topic:
                m.pubsub_unknown_topic_failure_total.with(labels).add();
                break;
            case failure_kind::topics_limit:
                m.pubsub_topics_limit_exceeded_total.with(labels).add();
                break;
            case failure_kind::throughput:
                m.pubsub_topic_throughput_exceeded_total.with(labels).add();
                break;
            case failure_kind::other:
                break;
        }
        e->owner->report_delivery(error, reason);  // may delete the batch
    }
}

std::size_t pubsub_publisher::impl::flush(std::chrono::milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    send_all_pending();
    std::size_t left = 0;
    {
        std::unique_lock lock(flow_mutex_);
        room_.wait_until(lock, deadline, [this] { return outstanding_messages_ == 0; });
        left = outstanding_messages_;
    }
    if (left == 0) return 0;
    stop_waiting();
    std::vector<std::shared_ptr<publish_call>> calls;
    {
        std::lock_guard lock(calls_mutex_);
        cancel_calls_ = true;
        for (const auto& [raw, call] : in_flight_) calls.push_back(call);
    }
    // Outside the lock: gRPC may run a cancelled call's answer on this thread.
    for (const auto& call : calls) call->context.TryCancel();
    send_all_pending();
    {
        std::unique_lock lock(flow_mutex_);
        room_.wait_for(lock, cancelled_calls_wait, [this] { return outstanding_messages_ == 0; });
    }
    spdlog::error("pubsub: {} messages were not delivered before shutdown", left);
    return left;
}

void pubsub_publisher::impl::stop_waiting() {
    {
        std::lock_guard lock(flow_mutex_);
        stop_waiting_ = true;
    }
    room_.notify_all();
}

std::size_t pubsub_publisher::impl::outstanding_messages() const {
    std::lock_guard lock(flow_mutex_);
    return outstanding_messages_;
}

bool pubsub_publisher::impl::connected() const {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + readiness_timeout);
    v1::ListTopicsRequest request;
    request.set_project(project_path_);
    request.set_page_size(1);
    v1::ListTopicsResponse response;
    const grpc::Status status = stub_->ListTopics(&context, request, &response);
    // An account allowed to publish but not to list topics is answered too.
    return status.ok() || status.error_code() == grpc::StatusCode::PERMISSION_DENIED;
}

std::optional<std::vector<std::string>> pubsub_publisher::impl::existing_topics() const {
    const std::string prefix = project_path_ + "/topics/";
    std::vector<std::string> topics;
    v1::ListTopicsRequest request;
    request.set_project(project_path_);
    request.set_page_size(1000);
    for (int page = 0; page < max_listed_pages; ++page) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + readiness_timeout);
        v1::ListTopicsResponse response;
        if (!stub_->ListTopics(&context, request, &response).ok()) return std::nullopt;
        for (const auto& topic : response.topics()) {
            if (topic.name().starts_with(prefix))
                topics.push_back(topic.name().substr(prefix.size()));
        }
        if (response.next_page_token().empty()) return topics;
        request.set_page_token(response.next_page_token());
    }
    return topics;
}

pubsub_publisher::pubsub_publisher(pubsub_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

pubsub_publisher::~pubsub_publisher() = default;

void pubsub_publisher::publish(std::unique_ptr<core::batch> batch) {
    impl_->publish(std::move(batch));
}

std::size_t pubsub_publisher::flush(std::chrono::milliseconds timeout) {
    return impl_->flush(timeout);
}

std::chrono::milliseconds pubsub_publisher::flush_timeout() const {
    return impl_->publish_timeout();
}

void pubsub_publisher::stop_waiting() { impl_->stop_waiting(); }

bool pubsub_publisher::connected() const { return impl_->connected(); }

std::optional<std::vector<std::string>> pubsub_publisher::existing_topics() const {
    return impl_->existing_topics();
}

std::size_t pubsub_publisher::outstanding_messages() const { return impl_->outstanding_messages(); }

}  // namespace raccoon::publisher::pubsub
