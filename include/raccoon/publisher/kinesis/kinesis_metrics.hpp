#pragma once

#include <raccoon/metrics/registry.hpp>

namespace raccoon::publisher::kinesis {

// The kinesis publisher's metric families: upstream raccoon's names, each
// with the labels stream, conn_group and event_type (upstream's code leaves
// stream off the first two, its docs put it on all five); docs/metrics.md
// describes each.
struct kinesis_metrics {
    explicit kinesis_metrics(metrics::registry& r);

    metrics::counter_family& kinesis_messages_delivered_total;
    metrics::counter_family& kinesis_messages_undelivered_total;
    metrics::counter_family& kinesis_unknown_stream_failure_total;
    // Every record Kinesis refused for its shards' throughput, retries included.
    metrics::counter_family& kinesis_stream_throughput_exceeded_total;
    metrics::counter_family& kinesis_streams_limit_exceeded_total;
    // Ours: events handed to the publisher and not yet reported, and their bytes.
    metrics::gauge_family& kinesis_outstanding_messages;
    metrics::gauge_family& kinesis_outstanding_bytes;
};

// Registered in the process's registry on first use.
kinesis_metrics& process_metrics();

}  // namespace raccoon::publisher::kinesis
