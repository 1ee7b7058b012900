#pragma once

#include <raccoon/metrics/registry.hpp>

namespace raccoon::publisher::kafka {

// The kafka publisher's metric families, under upstream raccoon's names and
// labels; docs/metrics.md describes each.
struct kafka_metrics {
    explicit kafka_metrics(metrics::registry& r);

    metrics::counter_family& kafka_messages_delivered_total;     // success, conn_group, event_type
    metrics::counter_family& kafka_messages_undelivered_total;   // success, conn_group, event_type
    metrics::counter_family& kafka_unknown_topic_failure_total;  // topic, event_type
    metrics::gauge_family& kafka_tx_messages_total;
    metrics::gauge_family& kafka_tx_messages_bytes_total;
    metrics::gauge_family& kafka_brokers_tx_total;                  // broker
    metrics::gauge_family& kafka_brokers_tx_bytes_total;            // broker
    metrics::gauge_family& kafka_brokers_rtt_average_milliseconds;  // broker
};

// Registered in the process's registry on first use.
kafka_metrics& process_metrics();

}  // namespace raccoon::publisher::kafka
