#pragma once

#include <raccoon/metrics/registry.hpp>

namespace raccoon::metrics {

// Every metric Raccoon reports, under upstream raccoon's names and labels so
// that its dashboards and alerts keep working. docs/metrics.md describes each.
struct catalog {
    explicit catalog(registry& r);

    // Connections (WebSocket).
    gauge_family& connections_count_current;               // conn_group
    counter_family& user_connection_success_total;         // conn_group
    counter_family& user_connection_failure_total;         // conn_group, reason
    histogram_family& user_session_duration_milliseconds;  // conn_group
    counter_family& server_ping_failure_total;             // conn_group
    counter_family& server_pong_failure_total;             // conn_group
    counter_family& conn_close_err_count;

    // Requests, all transports.
    counter_family& batches_read_total;      // status, reason, conn_group
    counter_family& events_rx_total;         // conn_group, event_type
    counter_family& events_rx_bytes_total;   // conn_group, event_type
    counter_family& events_duplicate_total;  // conn_group, reason

    // The way to the publisher and back. Durations are divided by the
    // batch's event count, as upstream does.
    histogram_family& batch_idle_in_channel_milliseconds;       // worker
    histogram_family& event_processing_duration_milliseconds;   // conn_group
    histogram_family& server_processing_latency_milliseconds;   // conn_group
    histogram_family& worker_processing_duration_milliseconds;  // worker
    counter_family& events_undelivered_after_ack_total;         // conn_group

    // The process, sampled at each scrape or flush.
    gauge_family& process_resident_memory_bytes;
    gauge_family& process_threads;
    gauge_family& process_open_fds;
    gauge_family& process_cpu_seconds_total;
    gauge_family& channel_batches_current;
    gauge_family& buffer_bytes_current;
};

// The process's registry and the catalog registered in it.
registry& global_registry();
catalog& global();

// Reads /proc/self into the process_* gauges of `metrics`.
void refresh_process_figures(catalog& metrics);

}  // namespace raccoon::metrics
