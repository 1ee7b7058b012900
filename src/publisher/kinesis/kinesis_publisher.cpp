#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <raccoon/core/error.hpp>
#include <raccoon/publisher/kinesis/kinesis_metrics.hpp>
#include <raccoon/publisher/kinesis/kinesis_publisher.hpp>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kinesis_api.hpp"

namespace raccoon::publisher::kinesis {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Why a record has not gone yet; what it fails with at its deadline.
enum class failure_kind : std::uint8_t { none, throttled, unknown_stream, streams_limit, other };

bool is_throttling(std::string_view type) {
    return type == "ProvisionedThroughputExceededException" || type == "LimitExceededException" ||
           type == "KMSThrottlingException" || type == "ThrottlingException";
}

// Capped exponential backoff with full jitter (AWS's "standard" retry mode).
clock::duration backoff(int streak) {
    constexpr auto base = 100ms;
    constexpr auto cap = 5000ms;
    const auto ceiling = std::min<clock::duration>(cap, base * (1 << std::min(streak, 6)));
    thread_local std::minstd_rand random{std::random_device{}()};
    std::uniform_int_distribution<clock::rep> pick(ceiling.count() / 4, ceiling.count());
    return clock::duration{pick(random)};
}

std::string milliseconds_text(std::chrono::milliseconds ms) {
    return std::to_string(ms.count()) + " ms";
}

}  // namespace

core::topic_naming topic_naming() {
    constexpr std::size_t max_length = 128;
    return {[](std::string_view stream) {
                return core::plain_name_problem(stream, max_length, "Kinesis");
            },
            {}};
}

connection_factory aws_connections(std::string_view region_setting,
                                   const std::string& credentials_file, const environment& env) {
    const std::string region = resolve_region(region_setting, env);
    return signed_connections(resolve_endpoint(region, env),
                              load_credentials(credentials_file, env), region);
}

struct kinesis_publisher::state {
    struct record {
        core::event* event;
        clock::time_point deadline;
        failure_kind last = failure_kind::none;
    };

    enum class status { unknown, probing, waiting, active, missing };

    struct stream {
        explicit stream(std::string n) : name(std::move(n)) {}

        const std::string name;
        status state = status::unknown;
        // unknown, waiting, missing: when to ask Kinesis about it again.
        clock::time_point next_probe{};
        // active: no call before, after a refusal.
        clock::time_point not_before{};
        int retry_streak = 0;
        std::deque<record> queue;
        std::vector<std::string> shard_hash_keys;
        std::uint64_t next_shard = 0;
        clock::time_point shards_listed_at{};
        bool listing_shards = false;
        failure_kind last = failure_kind::none;
        std::string last_detail;
    };

    struct failure {
        core::event* event;
        const stream* where;
        failure_kind kind;
        std::string detail;
    };

    state(kinesis_options o, connection_factory c) : options(std::move(o)), connect(std::move(c)) {}

    const kinesis_options options;
    const connection_factory connect;
    kinesis_metrics& metrics = process_metrics();

    std::mutex mutex;
    std::condition_variable work;
    std::condition_variable room;
    std::condition_variable drained;
    // Streams are never removed: records and failures point at them.
    std::unordered_map<std::string, std::unique_ptr<stream>> streams;
    std::vector<stream*> order;
    std::size_t next_in_order = 0;
    std::size_t outstanding_messages = 0;
    std::size_t outstanding_bytes = 0;
    std::size_t calls_in_flight = 0;
    bool stop_waiting = false;
    bool aborting = false;
    bool stopping = false;
    std::vector<std::thread> senders;

    mutable std::mutex probe_mutex;
    mutable std::unique_ptr<api_connection> probe_connection;

    stream& stream_for(const std::string& name) {
        auto& slot = streams[name];
        if (!slot) {
            slot = std::make_unique<stream>(name);
            order.push_back(slot.get());
        }
        return *slot;
    }

    bool has_room(std::size_t bytes) const {
        if (outstanding_messages == 0) return true;
        return outstanding_messages < options.max_outstanding_messages &&
               outstanding_bytes + bytes <= options.max_outstanding_bytes;
    }

    void count_outstanding(std::ptrdiff_t messages, std::ptrdiff_t bytes) {
        outstanding_messages =
            static_cast<std::size_t>(static_cast<std::ptrdiff_t>(outstanding_messages) + messages);
        outstanding_bytes =
            static_cast<std::size_t>(static_cast<std::ptrdiff_t>(outstanding_bytes) + bytes);
        metrics.kinesis_outstanding_messages.with({}).set(
            static_cast<double>(outstanding_messages));
        metrics.kinesis_outstanding_bytes.with({}).set(static_cast<double>(outstanding_bytes));
        if (messages < 0) room.notify_all();
        if (outstanding_messages == 0) drained.notify_all();
    }

    // Under the lock: the record leaves the outstanding count and goes to `out`.
    void settle_failed(const record& r, const stream& s, failure_kind kind, std::string detail,
                       std::vector<failure>& out) {
        count_outstanding(-1, -static_cast<std::ptrdiff_t>(r.event->bytes.size()));
        out.push_back({r.event, &s, kind, std::move(detail)});
    }

    std::string timeout_detail(const stream& s, failure_kind kind) const {
        std::string reason;
        if (kind == failure_kind::throttled) {
            reason =
                "Kinesis kept refusing it for the stream's throughput "
                "(ProvisionedThroughputExceededException)";
        } else {
            reason = s.last_detail.empty() ? "no answer from Kinesis" : s.last_detail;
        }
        return "not delivered to Kinesis stream " + s.name +
               " within PUBLISHER_KINESIS_PUBLISH_TIMEOUT_MS (" +
               milliseconds_text(options.publish_timeout) + "): " + reason;
    }

    // Under the lock: fails the records whose deadline has passed.
    void expire(clock::time_point now, std::vector<failure>& out) {
        for (stream* s : order) {
            while (!s->queue.empty() && s->queue.front().deadline <= now) {
                const record r = s->queue.front();
                s->queue.pop_front();
                const failure_kind kind = r.last != failure_kind::none ? r.last : s->last;
                settle_failed(r, *s, kind, timeout_detail(*s, kind), out);
            }
        }
    }

    // Under the lock: fails every queued record of `s` with `detail`.
    void fail_queue(stream& s, failure_kind kind, const std::string& detail,
                    std::vector<failure>& out) {
        for (const record& r : s.queue) settle_failed(r, s, kind, detail, out);
        s.queue.clear();
    }

    // Without the lock: counts each failure and reports it to its batch,
    // which the last report deletes.
    void report(std::vector<failure>& failures) {
        for (failure& f : failures) {
            const std::string& group = f.event->owner->identity.group;
            const std::string& type = f.event->type;
            metrics.kinesis_messages_undelivered_total.with({f.where->name, group, type}).add();
            if (f.kind == failure_kind::unknown_stream) {
                metrics.kinesis_unknown_stream_failure_total.with({f.where->name, group, type})
                    .add();
            } else if (f.kind == failure_kind::streams_limit) {
                metrics.kinesis_streams_limit_exceeded_total.with({f.where->name, group, type})
                    .add();
            }
            f.event->owner->report_delivery(core::make_error_code(core::errc::publish_failed),
                                            f.detail);
        }
        failures.clear();
    }

    // Without the lock: reports delivered records, a run of one batch's
    // events of one type at once.
    void report_delivered(const stream& s, std::span<core::event* const> delivered) {
        std::size_t i = 0;
        while (i < delivered.size()) {
            core::event* first = delivered[i];
            std::size_t run = 1;
            while (i + run < delivered.size() && delivered[i + run]->owner == first->owner &&
                   delivered[i + run]->type == first->type) {
                ++run;
            }
            metrics.kinesis_messages_delivered_total
                .with({s.name, first->owner->identity.group, first->type})
                .add(run);
            first->owner->report_deliveries(run);  // may delete the batch
            i += run;
        }
    }

    void publish(std::unique_ptr<core::batch> owned) {
        const std::size_t count = owned->events.size();
        core::batch* b = core::batch::start_delivery(std::move(owned));
        if (count == 0) return;
        std::vector<failure> failures;
        {
            std::unique_lock lock(mutex);
            const auto deadline = clock::now() + options.publish_timeout;
            stream* s = nullptr;
            // Reported events may complete the batch only once every event
            // is handed over, so reading the next one here is safe.
            for (std::size_t i = 0; i < count; ++i) {
                core::event& e = b->events[i];
                if (s == nullptr || s->name != *e.topic) s = &stream_for(*e.topic);
                const std::size_t bytes = e.bytes.size();
                const record r{&e, deadline};
                // A one-character partition key counts too.
                if (bytes + 1 > api::max_record_bytes) {
                    count_outstanding(1, static_cast<std::ptrdiff_t>(bytes));
                    settle_failed(r, *s, failure_kind::other,
                                  "an event of " + std::to_string(bytes) +
                                      " bytes is larger than a Kinesis record may be (1 MiB)",
                                  failures);
                    continue;
                }
                if (s->state == status::missing && clock::now() < s->next_probe) {
                    count_outstanding(1, static_cast<std::ptrdiff_t>(bytes));
                    settle_failed(r, *s, failure_kind::unknown_stream, s->last_detail, failures);
                    continue;
                }
                room.wait(lock, [&] { return stop_waiting || has_room(bytes); });
                if (aborting || !has_room(bytes)) {
                    count_outstanding(1, static_cast<std::ptrdiff_t>(bytes));
                    settle_failed(r, *s, failure_kind::other,
                                  "not published to Kinesis: the server is shutting down and the "
                                  "publisher's queue is full",
                                  failures);
                    continue;
                }
                count_outstanding(1, static_cast<std::ptrdiff_t>(bytes));
                s->queue.push_back(r);
            }
        }
        work.notify_all();
        report(failures);
    }

    // The sender's next job, chosen under the lock.
    enum class job { none, probe, send, list_shards };

    job choose(clock::time_point now, stream*& chosen, clock::time_point& wake) {
        wake = now + 1s;
        for (std::size_t n = 0; n < order.size(); ++n) {
            stream* s = order[(next_in_order + n) % order.size()];
            if (s->queue.empty()) continue;
            wake = std::min(wake, s->queue.front().deadline);
            switch (s->state) {
                case status::unknown:
                case status::waiting:
                case status::missing:
                    if (s->next_probe <= now) {
                        chosen = s;
                        next_in_order = (next_in_order + n + 1) % order.size();
                        return job::probe;
                    }
                    wake = std::min(wake, s->next_probe);
                    break;
                case status::active:
                    if (!s->listing_shards && now >= s->shards_listed_at + shard_refresh_interval) {
                        chosen = s;
                        return job::list_shards;
                    }
                    if (s->not_before <= now) {
                        chosen = s;
                        next_in_order = (next_in_order + n + 1) % order.size();
                        return job::send;
                    }
                    wake = std::min(wake, s->not_before);
                    break;
                case status::probing:
                    break;
            }
        }
        return job::none;
    }

    void serve(std::size_t index) {
        const std::string thread_name = "kinesis-send-" + std::to_string(index);
        pthread_setname_np(pthread_self(), thread_name.c_str());
        std::unique_ptr<api_connection> connection = connect();
        std::vector<failure> failures;
        std::unique_lock lock(mutex);
        while (!stopping) {
            const auto now = clock::now();
            expire(now, failures);
            if (!failures.empty()) {
                lock.unlock();
                report(failures);
                lock.lock();
                continue;
            }
            stream* s = nullptr;
            clock::time_point wake;
            switch (choose(now, s, wake)) {
                case job::probe:
                    probe(*s, *connection, lock);
                    break;
                case job::list_shards:
                    refresh_shards(*s, *connection, lock);
                    break;
                case job::send:
                    send(*s, *connection, lock);
                    break;
                case job::none:
                    work.wait_until(lock, wake);
                    break;
            }
        }
    }

    // Without the lock: the open shards' hash keys, all pages; nullopt when
    // Kinesis does not say.
    static std::optional<std::vector<std::string>> list_shards(const std::string& name,
                                                               api_connection& connection) {
        constexpr int max_pages = 100;
        std::vector<std::string> keys;
        std::string token;
        for (int page = 0; page < max_pages; ++page) {
            const api_reply reply =
                connection.call("ListShards", api::list_shards(name, token), call_timeout);
            if (reply.status != 200) {
                spdlog::warn(
                    "kinesis: ListShards of stream {} failed ({}); records go by "
                    "partition key instead of evenly over its shards",
                    name, api::describe(reply));
                return std::nullopt;
            }
            auto shards = api::parse_shards(reply.body);
            if (!shards) return std::nullopt;
            keys.insert(keys.end(), shards->open_shard_hash_keys.begin(),
                        shards->open_shard_hash_keys.end());
            if (shards->next_token.empty()) return keys;
            token = std::move(shards->next_token);
        }
        return keys;
    }

    void refresh_shards(stream& s, api_connection& connection, std::unique_lock<std::mutex>& lock) {
        s.listing_shards = true;
        lock.unlock();
        auto keys = list_shards(s.name, connection);
        lock.lock();
        s.listing_shards = false;
        s.shards_listed_at = clock::now();
        if (keys) s.shard_hash_keys = std::move(*keys);
    }

    // Asks Kinesis about the stream: ACTIVE makes it sendable, CREATING waits
    // a probe interval, a missing one is created (autocreate) or fails its
    // records.
    void probe(stream& s, api_connection& connection, std::unique_lock<std::mutex>& lock) {
        const status before = s.state;
        s.state = status::probing;
        lock.unlock();
        status next = status::unknown;
        failure_kind kind = failure_kind::other;
        std::string detail;
        clock::duration retry_after = options.stream_probe_interval;
        bool backing_off = false;
        std::optional<std::vector<std::string>> keys;

        const api_reply described = connection.call(
            "DescribeStreamSummary", api::describe_stream_summary(s.name), call_timeout);
        const api::error described_error = api::parse_error(described);
        if (described.status == 200) {
            const auto stream_status = api::parse_stream_status(described.body);
            if (stream_status == "ACTIVE" || stream_status == "UPDATING") {
                next = status::active;
                keys = list_shards(s.name, connection);
            } else {
                next = status::waiting;
                kind = failure_kind::other;
                detail = "Kinesis stream " + s.name + " is " + stream_status.value_or("unknown") +
                         ", not ACTIVE";
            }
        } else if (described_error.type == "ResourceNotFoundException" &&
                   !options.stream_autocreate) {
            next = status::missing;
            kind = failure_kind::unknown_stream;
            detail = "Kinesis stream " + s.name +
                     " does not exist (PUBLISHER_KINESIS_STREAM_AUTOCREATE is false)";
        } else if (described_error.type == "ResourceNotFoundException") {
            const api_reply created =
                connection.call("CreateStream",
                                api::create_stream(s.name,
                                                   options.mode == stream_mode::provisioned
                                                       ? api::stream_mode::provisioned
                                                       : api::stream_mode::on_demand,
                                                   options.stream_shards),
                                call_timeout);
            const api::error created_error = api::parse_error(created);
            next = status::waiting;
            if (created.status == 200 || created_error.type == "ResourceInUseException") {
                spdlog::info("kinesis: created stream {}; waiting until it is ACTIVE", s.name);
                kind = failure_kind::other;
                detail = "Kinesis stream " + s.name + " was created and is not ACTIVE yet";
            } else if (created_error.type == "LimitExceededException") {
                kind = failure_kind::streams_limit;
                detail =
                    "Kinesis refused to create stream " + s.name + ": " + api::describe(created);
            } else {
                detail =
                    "Kinesis refused to create stream " + s.name + ": " + api::describe(created);
                retry_after = backoff(s.retry_streak + 1);
                backing_off = true;
            }
        } else {
            detail =
                "Kinesis could not describe stream " + s.name + ": " + api::describe(described);
            retry_after = backoff(s.retry_streak + 1);
            backing_off = true;
        }

        lock.lock();
        const auto now = clock::now();
        s.state = next;
        if (next == status::active) {
            if (before != status::active) spdlog::info("kinesis: stream {} is ACTIVE", s.name);
            s.retry_streak = 0;
            s.last = failure_kind::none;
            s.last_detail.clear();
            s.shard_hash_keys = keys.value_or(std::vector<std::string>{});
            s.shards_listed_at = now;
            s.not_before = now;
            return;
        }
        s.last = kind;
        s.last_detail = detail;
        s.next_probe = now + retry_after;
        if (backing_off) ++s.retry_streak;
        if (next == status::missing) {
            spdlog::warn("kinesis: {}", detail);
            std::vector<failure> failures;
            fail_queue(s, kind, detail, failures);
            lock.unlock();
            report(failures);
            lock.lock();
        }
    }

    // Sends the stream's next records in one PutRecords call, then settles
    // each: delivered, queued again in front (refused but retryable), or failed.
    void send(stream& s, api_connection& connection, std::unique_lock<std::mutex>& lock) {
        thread_local std::vector<record> chunk;
        thread_local std::vector<std::string> partition_keys;
        thread_local std::vector<std::string_view> hash_keys;
        thread_local std::vector<api::put_entry> entries;
        chunk.clear();
        std::size_t bytes = 0;
        while (!s.queue.empty() && chunk.size() < api::max_records_per_call) {
            const record& next = s.queue.front();
            const std::size_t size = next.event->bytes.size() + 8;
            if (!chunk.empty() && bytes + size > api::max_bytes_per_call) break;
            bytes += size;
            chunk.push_back(next);
            s.queue.pop_front();
        }
        // Keys copied under the lock: a refresh may replace them meanwhile.
        const std::vector<std::string> shard_keys = s.shard_hash_keys;
        const std::uint64_t first_shard = s.next_shard;
        s.next_shard += chunk.size();
        ++calls_in_flight;
        lock.unlock();

        partition_keys.clear();
        entries.clear();
        for (std::size_t i = 0; i < chunk.size(); ++i) {
            const std::uint64_t turn = first_shard + i;
            partition_keys.push_back(std::to_string(turn % 100000000));
        }
        for (std::size_t i = 0; i < chunk.size(); ++i) {
            const std::string_view hash_key =
                shard_keys.empty()
                    ? std::string_view{}
                    : std::string_view(shard_keys[(first_shard + i) % shard_keys.size()]);
            entries.push_back({chunk[i].event->bytes, partition_keys[i], hash_key});
        }
        const api_reply reply =
            connection.call("PutRecords", api::put_records(s.name, entries), call_timeout);

        thread_local std::vector<core::event*> delivered;
        delivered.clear();
        std::vector<record> retried;
        std::vector<failure> failures;
        failure_kind call_kind = failure_kind::none;
        std::string call_detail;
        bool stream_gone = false;
        std::size_t throttled = 0;
        if (reply.status == 200) {
            if (auto results = api::parse_put_records(reply.body, chunk.size())) {
                for (std::size_t i = 0; i < chunk.size(); ++i) {
                    const auto& result = (*results)[i];
                    if (result.error_code.empty()) {
                        delivered.push_back(chunk[i].event);
                        continue;
                    }
                    record again = chunk[i];
                    if (result.error_code == "ProvisionedThroughputExceededException") {
                        again.last = failure_kind::throttled;
                        ++throttled;
                        count_throttled(s, *chunk[i].event);
                    } else {
                        again.last = failure_kind::other;
                        call_detail = result.error_code + ": " + result.error_message;
                    }
                    retried.push_back(again);
                }
            } else {
                call_kind = failure_kind::other;
                call_detail = "an answer to PutRecords that is not Kinesis's";
                retried = chunk;
            }
        } else {
            const api::error e = api::parse_error(reply);
            call_detail = api::describe(reply);
            if (e.type == "ResourceNotFoundException") {
                stream_gone = true;
                call_kind = failure_kind::unknown_stream;
                retried = chunk;
            } else if (reply.status == 0 || reply.status >= 500 || is_throttling(e.type)) {
                call_kind = e.type == "ProvisionedThroughputExceededException"
                                ? failure_kind::throttled
                                : failure_kind::other;
                if (call_kind == failure_kind::throttled) {
                    for (const record& r : chunk) count_throttled(s, *r.event);
                }
                retried = chunk;
            } else {
                lock.lock();
                for (const record& r : chunk) {
                    settle_failed(
                        r, s, failure_kind::other,
                        "Kinesis refused PutRecords to stream " + s.name + ": " + call_detail,
                        failures);
                }
                lock.unlock();
            }
        }
        if (call_kind != failure_kind::none) {
            for (record& r : retried) r.last = call_kind;
        }
        if (throttled > 0 && call_detail.empty()) {
            call_detail = "ProvisionedThroughputExceededException";
        }

        lock.lock();
        --calls_in_flight;
        std::size_t delivered_bytes = 0;
        for (const core::event* e : delivered) delivered_bytes += e->bytes.size();
        const auto now = clock::now();
        if (retried.empty()) {
            s.retry_streak = 0;
        } else if (aborting) {
            for (const record& r : retried) {
                settle_failed(r, s, r.last,
                              "not delivered to Kinesis stream " + s.name +
                                  " before shutdown: " + call_detail,
                              failures);
            }
        } else {
            s.last = call_kind == failure_kind::none ? failure_kind::other : call_kind;
            s.last_detail = call_detail;
            for (auto r = retried.rbegin(); r != retried.rend(); ++r) s.queue.push_front(*r);
            if (stream_gone) {
                spdlog::warn("kinesis: stream {} is gone ({}); asking about it again", s.name,
                             call_detail);
                s.state = status::unknown;
                s.next_probe = now;
            } else {
                // A call that delivered some records shows the shards take
                // load: a short pause, not a growing one.
                s.retry_streak = delivered.empty() ? s.retry_streak + 1 : 1;
                s.not_before = now + backoff(s.retry_streak);
            }
        }
        lock.unlock();
        report_delivered(s, delivered);
        report(failures);
        lock.lock();
        count_outstanding(-static_cast<std::ptrdiff_t>(delivered.size()),
                          -static_cast<std::ptrdiff_t>(delivered_bytes));
        if (!retried.empty()) work.notify_all();
    }

    void count_throttled(const stream& s, const core::event& e) {
        metrics.kinesis_stream_throughput_exceeded_total
            .with({s.name, e.owner->identity.group, e.type})
            .add();
    }
};

kinesis_publisher::kinesis_publisher(kinesis_options options, connection_factory connect)
    : state_(std::make_unique<state>(std::move(options), std::move(connect))) {
    const std::size_t threads = std::max<std::size_t>(1, state_->options.connections);
    for (std::size_t i = 0; i < threads; ++i) {
        state_->senders.emplace_back([this, i] { state_->serve(i); });
    }
}

kinesis_publisher::~kinesis_publisher() {
    {
        std::lock_guard lock(state_->mutex);
        if (state_->outstanding_messages == 0) state_->stopping = true;
    }
    if (!state_->stopping) flush(std::chrono::milliseconds(0));
    {
        std::lock_guard lock(state_->mutex);
        state_->stopping = true;
    }
    state_->work.notify_all();
    for (auto& sender : state_->senders) sender.join();
}

void kinesis_publisher::publish(std::unique_ptr<core::batch> batch) {
    state_->publish(std::move(batch));
}

std::chrono::milliseconds kinesis_publisher::flush_timeout() const {
    return state_->options.publish_timeout;
}

std::size_t kinesis_publisher::flush(std::chrono::milliseconds timeout) {
    state& s = *state_;
    std::unique_lock lock(s.mutex);
    if (s.drained.wait_for(lock, timeout, [&] { return s.outstanding_messages == 0; })) return 0;
    const std::size_t left = s.outstanding_messages;
    s.stop_waiting = true;
    s.aborting = true;
    s.room.notify_all();
    std::vector<state::failure> failures;
    for (state::stream* stream : s.order) {
        s.fail_queue(*stream, failure_kind::other,
                     "not delivered to Kinesis stream " + stream->name + " before shutdown",
                     failures);
    }
    lock.unlock();
    s.report(failures);
    lock.lock();
    // Calls in flight end within their timeout; what they leave undelivered
    // fails then, as aborting says.
    s.drained.wait_for(lock, call_timeout + 1s, [&] { return s.outstanding_messages == 0; });
    spdlog::error("kinesis: {} events were not delivered before shutdown", left);
    return left;
}

void kinesis_publisher::stop_waiting() {
    {
        std::lock_guard lock(state_->mutex);
        state_->stop_waiting = true;
    }
    state_->room.notify_all();
}

bool kinesis_publisher::connected() const {
    std::lock_guard lock(state_->probe_mutex);
    if (!state_->probe_connection) state_->probe_connection = state_->connect();
    const api_reply reply =
        state_->probe_connection->call("ListStreams", api::list_streams("", 1), 1s);
    return reply.status == 200 || api::parse_error(reply).type == "AccessDeniedException";
}

std::optional<std::vector<std::string>> kinesis_publisher::existing_topics() const {
    constexpr int page_size = 100;
    constexpr int max_pages = 50;
    std::lock_guard lock(state_->probe_mutex);
    if (!state_->probe_connection) state_->probe_connection = state_->connect();
    std::vector<std::string> names;
    const auto deadline = clock::now() + 2s;
    for (int page = 0; page < max_pages && clock::now() < deadline; ++page) {
        const api_reply reply = state_->probe_connection->call(
            "ListStreams", api::list_streams(names.empty() ? "" : names.back(), page_size), 1s);
        if (reply.status != 200) return std::nullopt;
        auto listed = api::parse_streams(reply.body);
        if (!listed) return std::nullopt;
        names.insert(names.end(), listed->names.begin(), listed->names.end());
        if (!listed->more || listed->names.empty()) return names;
    }
    return std::nullopt;
}

}  // namespace raccoon::publisher::kinesis
