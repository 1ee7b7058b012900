#pragma once

#include <raccoon/metrics/registry.hpp>

namespace raccoon::publisher::pubsub {

// The pubsub publisher's metric families: upstream raccoon's names and labels,
// and the outstanding gauges of our own; docs/metrics.md describes each.
struct pubsub_metrics {
    explicit pubsub_metrics(metrics::registry& r);

    metrics::counter_family& pubsub_messages_delivered_total;     // topic, conn_group, event_type
    metrics::counter_family& pubsub_messages_undelivered_total;   // topic, conn_group, event_type
    metrics::counter_family& pubsub_unknown_topic_failure_total;  // topic, conn_group, event_type
    metrics::counter_family&
        pubsub_topic_throughput_exceeded_total;                   // topic, conn_group, event_type
    metrics::counter_family& pubsub_topics_limit_exceeded_total;  // topic, conn_group, event_type
    metrics::gauge_family& pubsub_outstanding_messages;
    metrics::gauge_family& pubsub_outstanding_bytes;
};

// Registered in the process's registry on first use.
pubsub_metrics& process_metrics();

}  // namespace raccoon::publisher::pubsub
