#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <raccoon/core/error.hpp>
#include <raccoon/core/memory_budget.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace raccoon::core {

using clock = std::chrono::steady_clock;

class batch;
struct worker_metrics;

// One event of a batch: its type and its bytes, which are never parsed.
struct event {
    std::string type;
    std::string bytes;
    // Set by the worker from the type; points into the worker's topic_router
    // and stays valid while the publisher's publish() call runs.
    const std::string* topic = nullptr;
    // Set by start_delivery(): a delivery report names the event, and through
    // it reaches the batch.
    batch* owner = nullptr;
};

// Who sent a batch: the connection's id and group headers.
struct connection_identity {
    std::string id;
    std::string group;
};

// One decoded request on its way to the publisher, and the completion that
// acks it. After start_delivery() the batch owns itself: it is deleted right
// after the last of its events reports its delivery.
class batch {
    // First, so destroyed last: the bytes go back to the budget once freed.
    budget_claim memory_claim_;

 public:
    using completion = std::move_only_function<void(const batch_result&)>;

    std::string req_guid;
    std::int64_t sent_time_seconds = 0;
    std::int32_t sent_time_nanos = 0;
    std::vector<event> events;
    connection_identity identity;
    clock::time_point received_at = clock::now();
    // Set by the worker that takes the batch from the channel.
    clock::time_point taken_at{};
    const worker_metrics* worker = nullptr;

    // What the batch costs in memory as WORKER_BUFFER_MAX_BYTES counts it:
    // each event's bytes, type and bookkeeping, with the allocator's
    // rounding, and the batch's own.
    std::size_t memory_bytes() const noexcept;
    // The most memory_bytes() can be once a decoder has added up to
    // `event_count` events and a req_guid whose strings hold `string_bytes` bytes in all:
    // strings built by appending (capacity at most twice their size), the
    // events' vector grown by doubling. Taken from the budget before
    // decoding, so a request's events are counted before they exist.
    std::size_t memory_bytes_after_decoding(std::size_t event_count,
                                            std::size_t string_bytes) const noexcept;
    budget_claim& memory_claim() noexcept { return memory_claim_; }

    void set_completion(completion on_complete) { on_complete_ = std::move(on_complete); }
    completion take_completion() { return std::exchange(on_complete_, nullptr); }

    // Ends the batch at once with `result`, without delivery.
    static void fail(std::unique_ptr<batch> b, const batch_result& result);

    // Releases the batch to its pending deliveries, one per event; a batch
    // with no event completes at once. Returns the batch, now owned by them.
    static batch* start_delivery(std::unique_ptr<batch> b);

    // Reports one event's delivery, from any thread. The first error is the
    // batch's result; the last report completes and deletes the batch.
    void report_delivery(std::error_code error, std::string_view detail);
    // Reports `count` events delivered at once, as many report_delivery({}, {}).
    void report_deliveries(std::size_t count);

 private:
    void complete();

    completion on_complete_;
    std::atomic<std::size_t> pending_{0};
    std::mutex error_mutex_;
    batch_result result_;
};

}  // namespace raccoon::core
