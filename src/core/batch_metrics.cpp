#include <chrono>
#include <deque>
#include <mutex>
#include <raccoon/core/batch_metrics.hpp>
#include <raccoon/metrics/catalog.hpp>

namespace raccoon::core {
namespace {

double milliseconds_between(clock::time_point from, clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

void count_batch_read(const batch& b) {
    auto& m = metrics::global();
    const std::string& group = b.identity.group;
    m.batches_read_total.with({"success", "NA", group}).add();
    // Events of one type usually come together: one series lookup per run.
    for (std::size_t i = 0; i < b.events.size();) {
        const std::string& type = b.events[i].type;
        std::uint64_t count = 0;
        std::uint64_t bytes = 0;
        for (; i < b.events.size() && b.events[i].type == type; ++i) {
            ++count;
            bytes += b.events[i].bytes.size();
        }
        m.events_rx_total.with({group, type}).add(count);
        m.events_rx_bytes_total.with({group, type}).add(bytes);
    }
}

void count_batch_failed(std::string_view conn_group, std::string_view reason) {
    metrics::global().batches_read_total.with({"failed", reason, conn_group}).add();
}

void count_duplicate_batch(std::string_view conn_group) {
    metrics::global().events_duplicate_total.with({conn_group, "duplicate"}).add();
}

const worker_metrics& worker_metrics_for(std::size_t index) {
    static std::mutex mutex;
    static std::deque<worker_metrics> workers;  // a deque keeps references valid as it grows
    std::lock_guard lock(mutex);
    auto& m = metrics::global();
    while (workers.size() <= index) {
        std::string label = "worker-" + std::to_string(workers.size());
        auto& idle = m.batch_idle_in_channel_milliseconds.with({label});
        auto& processing = m.worker_processing_duration_milliseconds.with({label});
        workers.push_back({std::move(label), idle, processing});
    }
    return workers[index];
}

void record_batch_taken(batch& b, const worker_metrics& worker) {
    b.taken_at = clock::now();
    b.worker = &worker;
    worker.idle_in_channel.observe(milliseconds_between(b.received_at, b.taken_at));
}

void record_batch_published(const batch& b) {
    if (b.worker == nullptr || b.events.empty()) return;
    auto& m = metrics::global();
    const auto now = clock::now();
    const auto count = static_cast<double>(b.events.size());
    const std::string& group = b.identity.group;
    m.server_processing_latency_milliseconds.with({group}).observe(
        milliseconds_between(b.received_at, now) / count);
    b.worker->processing.observe(milliseconds_between(b.taken_at, now) / count);
    // The client's clock: a request without a sent_time has nothing to measure.
    if (b.sent_time_seconds > 0) {
        const auto sent =
            std::chrono::system_clock::time_point(std::chrono::seconds(b.sent_time_seconds) +
                                                  std::chrono::nanoseconds(b.sent_time_nanos));
        const double since_sent =
            std::chrono::duration<double, std::milli>(std::chrono::system_clock::now() - sent)
                .count();
        m.event_processing_duration_milliseconds.with({group}).observe(since_sent / count);
    }
}

void count_undelivered_after_ack(const batch& b) {
    metrics::global()
        .events_undelivered_after_ack_total.with({b.identity.group})
        .add(b.events.size());
}

}  // namespace raccoon::core
