#pragma once

#include <raccoon/core/batch.hpp>
#include <raccoon/metrics/registry.hpp>
#include <string>
#include <string_view>

// Where the data path counts itself, under upstream's metric names: each
// function is called at the one point of the path its metrics describe.
namespace raccoon::core {

// A request decoded and about to be offered to the channel.
void count_batch_read(const batch& b);

// A request refused before it became a batch (undecodable, too large, an
// unknown content type); `reason` as upstream's batches_read_total.
void count_batch_failed(std::string_view conn_group, std::string_view reason);

// A WebSocket request whose req_guid the connection has already seen.
void count_duplicate_batch(std::string_view conn_group);

// One worker's name, "worker-<index>" as upstream names them, and its series,
// found once when the worker starts rather than per batch. It lives as long as
// the process: batches name their worker until their last delivery report,
// which may come after the worker pool is gone.
struct worker_metrics {
    std::string label;
    metrics::histogram& idle_in_channel;
    metrics::histogram& processing;
};
const worker_metrics& worker_metrics_for(std::size_t index);

// A worker took the batch from the channel.
void record_batch_taken(batch& b, const worker_metrics& worker);

// The batch's last delivery report arrived.
void record_batch_published(const batch& b);

// Events acked under EVENT_ACK=0 whose delivery failed.
void count_undelivered_after_ack(const batch& b);

}  // namespace raccoon::core
