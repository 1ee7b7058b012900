#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <raccoon/config/setting_table.hpp>
#include <raccoon/core/error.hpp>
#include <raccoon/publisher/kafka/kafka_metrics.hpp>
#include <raccoon/publisher/kafka/kafka_publisher.hpp>
#include <string>
#include <utility>
#include <vector>

namespace raccoon::publisher::kafka {
namespace {

std::string setting_key(const std::string& property) {
    std::string key = "PUBLISHER_KAFKA_CLIENT_";
    for (char c : property) {
        key.push_back(c == '.' ? '_'
                               : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
    return key;
}

std::string describe(rd_kafka_resp_err_t error, rd_kafka_msg_status_t status) {
    std::string detail = rd_kafka_err2str(error);
    // A message that may have reached the broker is said to be so, never hidden:
    // a client retrying it may cause a duplicate.
    if (status == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED) detail += " (possibly persisted)";
    return detail;
}

// Event types, and so topics, come from clients: beyond this many, topics
// are produced by name rather than each holding a handle for good.
constexpr std::size_t max_topic_handles = 1024;

// The messages of a run a worker keeps room for between batches (288 KiB).
constexpr std::size_t kept_run_capacity = 4096;

bool is_unknown_topic(rd_kafka_resp_err_t error) {
    return error == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           error == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
}

// Delivery reports come in runs: the events of one batch one after another,
// mostly of one type. A run of deliveries is counted and reported to its
// batch at once, when a report of another batch or type comes or the thread's
// rd_kafka_poll() or rd_kafka_flush() returns (end_delivered_run()). Until
// then the batch waits for the run's events, so it is alive.
struct delivered_run {
    core::event* first = nullptr;  // names the run's batch and type
    std::uint64_t count = 0;
};
thread_local delivered_run current_run;

void end_delivered_run() {
    if (current_run.count == 0) return;
    const core::event& first = *current_run.first;
    const std::uint64_t count = std::exchange(current_run.count, 0);
    process_metrics()
        .kafka_messages_delivered_total.with({"true", first.owner->identity.group, first.type})
        .add(count);
    first.owner->report_deliveries(count);  // may delete the batch
}

// Only from a delivery report, on a thread that ends its run after polling.
void report_delivered(core::event& e) {
    if (current_run.count > 0 &&
        (current_run.first->owner != e.owner || current_run.first->type != e.type)) {
        end_delivered_run();
    }
    if (current_run.count++ == 0) current_run.first = &e;
}

// Counts one event's failure, then reports it to its batch, which may be
// deleted by that report.
void report_failed(core::event& e, std::string_view topic, rd_kafka_resp_err_t error,
                   std::string_view detail) {
    end_delivered_run();
    auto& m = process_metrics();
    const std::string& group = e.owner->identity.group;
    m.kafka_messages_delivered_total.with({"false", group, e.type}).add();
    m.kafka_messages_undelivered_total.with({"false", group, e.type}).add();
    if (is_unknown_topic(error)) {
        m.kafka_unknown_topic_failure_total.with({topic, e.type}).add();
    }
    e.owner->report_delivery(core::make_error_code(core::errc::publish_failed), detail);
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
    auto* e = static_cast<core::event*>(message->_private);
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) return report_delivered(*e);
    // The event's topic pointer is the worker's, valid only during publish().
    const char* topic = message->rkt != nullptr ? rd_kafka_topic_name(message->rkt) : "";
    report_failed(*e, topic, message->err,
                  describe(message->err, rd_kafka_message_status(message)));
}

// librdkafka's statistics (every PUBLISHER_KAFKA_CLIENT_STATISTICS_INTERVAL_MS),
// on the delivery thread, into upstream's kafka_* gauges.
int on_statistics(rd_kafka_t*, char* json, size_t length, void*) {
    auto& m = process_metrics();
    auto stats = nlohmann::json::parse(json, json + length, nullptr, false);
    if (stats.is_discarded()) return 0;
    m.kafka_tx_messages_total.with({}).set(stats.value("txmsgs", 0.0));
    m.kafka_tx_messages_bytes_total.with({}).set(stats.value("txmsg_bytes", 0.0));
    const auto brokers = stats.find("brokers");
    if (brokers == stats.end() || !brokers->is_object()) return 0;
    for (const auto& [name, broker] : brokers->items()) {
        // Only the brokers the client talks to, not its internal or bootstrap entries.
        if (broker.value("nodeid", -1) < 0) continue;
        const std::string node = broker.value("nodename", name);
        const std::string host = node.substr(0, node.rfind(':'));
        m.kafka_brokers_tx_total.with({host}).set(broker.value("tx", 0.0));
        m.kafka_brokers_tx_bytes_total.with({host}).set(broker.value("txbytes", 0.0));
        if (const auto rtt = broker.find("rtt"); rtt != broker.end() && rtt->is_object()) {
            // librdkafka gives microseconds; the metric's name says milliseconds.
            m.kafka_brokers_rtt_average_milliseconds.with({host}).set(rtt->value("avg", 0.0) /
                                                                      1000.0);
        }
    }
    return 0;  // librdkafka frees `json`
}

// librdkafka's own lines (syslog levels) through our logger instead of its
// default of raw stderr. Called from librdkafka's threads; spdlog is thread-safe.
void on_log(const rd_kafka_t*, int level, const char* facility, const char* message) {
    spdlog::level::level_enum ours = level <= 3   ? spdlog::level::err
                                     : level == 4 ? spdlog::level::warn
                                     : level <= 6 ? spdlog::level::info
                                                  : spdlog::level::debug;
    spdlog::log(ours, "kafka {}: {}", facility, message);
}

}  // namespace

core::topic_naming topic_naming() {
    constexpr std::size_t max_length = 249;
    return {[](std::string_view topic) -> std::string {
                if (topic == "." || topic == "..") return "Kafka does not allow";
                return core::plain_name_problem(topic, max_length, "Kafka");
            },
            [](std::string_view topic) {
                std::string key(topic);
                std::ranges::replace(key, '.', '_');
                return key;
            }};
}

kafka_publisher::kafka_publisher(const std::map<std::string, std::string>& client,
                                 std::chrono::milliseconds flush_timeout)
    : flush_timeout_(flush_timeout) {
    process_metrics();
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char error[512];
    for (const auto& [property, value] : client) {
        if (rd_kafka_conf_set(conf, property.c_str(), value.c_str(), error, sizeof error) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            throw config::invalid_setting(setting_key(property), value, error);
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_stats_cb(conf, on_statistics);
    client_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (client_ == nullptr) {
        rd_kafka_conf_destroy(conf);
        throw config::invalid_setting("PUBLISHER_KAFKA_CLIENT_*", "", error);
    }
    delivery_thread_ = std::thread([this] { serve_delivery_reports(); });
    // Either says the user wants librdkafka's own choice of partitions.
    choose_partitions_ =
        !client.contains("partitioner") && !client.contains("sticky.partitioning.linger.ms");
    if (choose_partitions_) partition_watcher_ = std::thread([this] { watch_partitions(); });
}

kafka_publisher::~kafka_publisher() {
    // rd_kafka_destroy() drops queued messages without a delivery report, which
    // would leak their batches and never ack them: fail them here instead.
    if (rd_kafka_outq_len(client_) > 0) flush(std::chrono::milliseconds(0));
    {
        std::lock_guard lock(watch_mutex_);
        stop_watching_ = true;
    }
    watch_wakeup_.notify_all();
    if (partition_watcher_.joinable()) partition_watcher_.join();
    stop_polling_ = true;
    if (delivery_thread_.joinable()) delivery_thread_.join();
    for (const auto& [name, kept] : topics_) rd_kafka_topic_destroy(kept->handle);
    rd_kafka_destroy(client_);
}

void kafka_publisher::serve_delivery_reports() {
    pthread_setname_np(pthread_self(), "kafka-delivery");
    while (!stop_polling_.load(std::memory_order_relaxed)) serve_reports(100);
    // Serve whatever reports the last flush left queued.
    while (serve_reports(0) > 0) {
    }
}

int kafka_publisher::serve_reports(int timeout_ms) {
    const int served = rd_kafka_poll(client_, timeout_ms);
    end_delivered_run();
    return served;
}

void kafka_publisher::watch_partitions() {
    pthread_setname_np(pthread_self(), "kafka-partitions");
    // A topic the cluster does not know (not yet created, or never: a client's
    // made-up type with auto-creation off) is asked about again after 1 s,
    // 2 s, 4 s ... up to the recount interval.
    constexpr auto first_retry = std::chrono::seconds(1);
    constexpr int metadata_timeout_ms = 500;
    std::unique_lock lock(watch_mutex_);
    while (!stop_watching_) {
        watch_wakeup_.wait_for(lock, first_retry,
                               [this] { return stop_watching_ || topic_added_; });
        topic_added_ = false;
        lock.unlock();
        const auto now = std::chrono::steady_clock::now();
        std::vector<kept_topic*> due;
        {
            std::shared_lock topics(topics_mutex_);
            for (const auto& [name, kept] : topics_) {
                if (now >= kept->next_count) due.push_back(kept.get());
            }
        }
        for (kept_topic* kept : due) {
            if (const std::int32_t count = count_partitions(kept->handle, metadata_timeout_ms);
                count > 0) {
                kept->partitions.store(count, std::memory_order_relaxed);
                kept->failed_counts = 0;
                kept->next_count = now + partition_recount_interval;
            } else {
                kept->next_count =
                    now + std::min<std::chrono::steady_clock::duration>(
                              first_retry * (1 << std::min(kept->failed_counts++, 6)),
                              partition_recount_interval);
            }
            std::lock_guard stopping(watch_mutex_);
            if (stop_watching_) break;
        }
        lock.lock();
    }
}

std::int32_t kafka_publisher::count_partitions(rd_kafka_topic_t* topic, int timeout_ms) {
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(client_, 0, topic, &metadata, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return 0;
    }
    const std::int32_t count =
        metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR
            ? metadata->topics[0].partition_cnt
            : 0;
    rd_kafka_metadata_destroy(metadata);
    return count;
}

kafka_publisher::kept_topic* kafka_publisher::keep(const std::string& topic) {
    {
        std::shared_lock lock(topics_mutex_);
        if (auto found = topics_.find(topic); found != topics_.end()) return found->second.get();
    }
    kept_topic* added = nullptr;
    {
        std::lock_guard lock(topics_mutex_);
        if (auto found = topics_.find(topic); found != topics_.end()) return found->second.get();
        if (topics_.size() >= max_topic_handles) return nullptr;
        rd_kafka_topic_t* handle = rd_kafka_topic_new(client_, topic.c_str(), nullptr);
        if (handle == nullptr) return nullptr;
        auto& slot = topics_[topic];
        slot = std::make_unique<kept_topic>();
        slot->handle = handle;
        added = slot.get();
    }
    if (choose_partitions_) {
        {
            std::lock_guard lock(watch_mutex_);
            topic_added_ = true;
        }
        watch_wakeup_.notify_one();
    }
    return added;
}

std::int32_t kafka_publisher::partitions_in_use(const std::string& topic) {
    std::shared_lock lock(topics_mutex_);
    const auto found = topics_.find(topic);
    return found == topics_.end() ? 0 : found->second->partitions.load(std::memory_order_relaxed);
}

void kafka_publisher::publish(std::unique_ptr<core::batch> owned) {
    const std::size_t count = owned->events.size();
    core::batch* b = core::batch::start_delivery(std::move(owned));
    // From here on the batch is deleted by the report of its last event, so
    // events are read only before they are produced; a run's failures are
    // reported after its successes could be, and those reports never reach
    // the events still to come, which keep the batch alive.
    thread_local std::vector<rd_kafka_message_t> run;
    std::size_t next = 0;
    while (next < count) {
        // The events of a batch mostly share a topic: one run each.
        const std::string* topic = b->events[next].topic;
        run.clear();
        for (; next < count && b->events[next].topic == topic; ++next) {
            core::event& e = b->events[next];
            rd_kafka_message_t message{};
            message.partition = RD_KAFKA_PARTITION_UA;
            message.payload = e.bytes.data();
            message.len = e.bytes.size();
            message._private = &e;
            run.push_back(message);
        }
        produce_run(*topic, run);
    }
    // A huge batch must not leave each worker holding its run's capacity
    // (72 bytes an event: 60 MB after a batch of 838,857) for good.
    if (run.capacity() > kept_run_capacity) std::vector<rd_kafka_message_t>().swap(run);
}

void kafka_publisher::produce_run(const std::string& topic, std::span<rd_kafka_message_t> run) {
    kept_topic* kept = keep(topic);
    const bool handle_for_this_run = kept == nullptr;
    rd_kafka_topic_t* handle =
        handle_for_this_run ? rd_kafka_topic_new(client_, topic.c_str(), nullptr) : kept->handle;
    std::int32_t partition = RD_KAFKA_PARTITION_UA;
    if (const std::int32_t count =
            handle_for_this_run ? 0 : kept->partitions.load(std::memory_order_relaxed);
        count > 0) {
        partition = static_cast<std::int32_t>(
            (kept->runs.fetch_add(1, std::memory_order_relaxed) / runs_per_partition) %
            static_cast<std::uint32_t>(count));
    }
    if (handle == nullptr) {
        const rd_kafka_resp_err_t error = rd_kafka_last_error();
        for (auto& message : run) {
            report_failed(*static_cast<core::event*>(message._private), topic, error,
                          rd_kafka_err2str(error));
        }
        return;
    }
    while (!run.empty()) {
        // Without copying the bytes (no RD_KAFKA_MSG_F_COPY): the batch keeps them.
        const int produced =
            rd_kafka_produce_batch(handle, partition, 0, run.data(), static_cast<int>(run.size()));
        if (static_cast<std::size_t>(produced) == run.size()) break;
        // The messages not taken, in order: a full queue is waited on and
        // retried, never dropped; a partition the topic no longer has (it was
        // made again, smaller) is left to librdkafka until counted again; any
        // other refusal is that event's result.
        std::size_t retried = 0;
        bool partition_gone = false;
        for (auto& message : run) {
            if (message.err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
            if (message.err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION &&
                partition != RD_KAFKA_PARTITION_UA) {
                partition_gone = true;
                run[retried++] = message;
                continue;
            }
            if (message.err == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
                !stop_waiting_.load(std::memory_order_relaxed)) {
                run[retried++] = message;
                continue;
            }
            report_failed(*static_cast<core::event*>(message._private), topic, message.err,
                          rd_kafka_err2str(message.err));
        }
        run = run.first(retried);
        if (partition_gone) {
            kept->partitions.store(0, std::memory_order_relaxed);
            partition = RD_KAFKA_PARTITION_UA;
            continue;
        }
        if (!run.empty()) serve_reports(10);
    }
    if (handle_for_this_run) rd_kafka_topic_destroy(handle);
}

std::size_t kafka_publisher::flush(std::chrono::milliseconds timeout) {
    // rd_kafka_flush() serves reports on this thread too.
    rd_kafka_flush(client_, static_cast<int>(timeout.count()));
    end_delivered_run();
    const int left = rd_kafka_outq_len(client_);
    if (left > 0) {
        stop_waiting();
        rd_kafka_purge(client_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(client_, 1000);
        end_delivered_run();
        spdlog::error("kafka: {} messages were not delivered before shutdown", left);
    }
    return left > 0 ? static_cast<std::size_t>(left) : 0;
}

void kafka_publisher::stop_waiting() { stop_waiting_ = true; }

std::optional<std::vector<std::string>> kafka_publisher::existing_topics() const {
    constexpr int metadata_timeout_ms = 1000;
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(client_, 1, nullptr, &metadata, metadata_timeout_ms) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        return std::nullopt;
    }
    std::vector<std::string> topics;
    topics.reserve(static_cast<std::size_t>(metadata->topic_cnt));
    for (int i = 0; i < metadata->topic_cnt; ++i) topics.emplace_back(metadata->topics[i].topic);
    rd_kafka_metadata_destroy(metadata);
    return topics;
}

bool kafka_publisher::connected() const {
    // A request for the brokers only (no topics): it succeeds when one answers.
    constexpr int metadata_timeout_ms = 500;
    const rd_kafka_metadata_t* metadata = nullptr;
    rd_kafka_resp_err_t error =
        rd_kafka_metadata(client_, 0, nullptr, &metadata, metadata_timeout_ms);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    const bool any_broker = metadata->broker_cnt > 0;
    rd_kafka_metadata_destroy(metadata);
    return any_broker;
}

}  // namespace raccoon::publisher::kafka
