#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <raccoon/metrics/catalog.hpp>
#include <sstream>
#include <string>

namespace raccoon::metrics {
namespace {

// Upstream's buckets, with finer ones below 5 ms where this server's
// latencies live.
std::vector<double> latency_bounds_ms() {
    return {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
}

std::vector<double> session_bounds_ms() { return {1000, 10000, 100000, 600000, 3600000}; }

}  // namespace

catalog::catalog(registry& r)
    : connections_count_current(
          r.add_gauge("connections_count_current", "Number of alive connections", {"conn_group"})),
      user_connection_success_total(r.add_counter(
          "user_connection_success_total",
          "Number of successful connections established to the server", {"conn_group"})),
      user_connection_failure_total(r.add_counter(
          "user_connection_failure_total", "Number of fail connections established to the server",
          {"conn_group", "reason"})),
      user_session_duration_milliseconds(
          r.add_histogram("user_session_duration_milliseconds",
                          "Duration of alive connection per session per connection", {"conn_group"},
                          session_bounds_ms())),
      server_ping_failure_total(r.add_counter(
          "server_ping_failure_total", "Total ping that server fails to send", {"conn_group"})),
      server_pong_failure_total(r.add_counter(
          "server_pong_failure_total", "Total pong that server fails to send", {"conn_group"})),
      conn_close_err_count(r.add_counter("conn_close_err_count",
                                         "Total Number of Connection Errors When Trying To Close")),
      batches_read_total(
          r.add_counter("batches_read_total", "Request count", {"status", "reason", "conn_group"})),
      events_rx_total(r.add_counter("events_rx_total", "Number of events received in requests",
                                    {"conn_group", "event_type"})),
      events_rx_bytes_total(r.add_counter("events_rx_bytes_total",
                                          "Total byte receieved in requests",
                                          {"conn_group", "event_type"})),
      events_duplicate_total(r.add_counter(
          "events_duplicate_total", "Total Number of Duplicate events recieved by the server",
          {"conn_group", "reason"})),
      batch_idle_in_channel_milliseconds(r.add_histogram(
          "batch_idle_in_channel_milliseconds",
          "Duration from when the request is received to when the request is processed. High "
          "value of this metric indicates the publisher is slow.",
          {"worker"}, latency_bounds_ms())),
      event_processing_duration_milliseconds(r.add_histogram(
          "event_processing_duration_milliseconds",
          "Duration from the time request is sent to the time events are published, divided by "
          "the batch's event count",
          {"conn_group"}, latency_bounds_ms())),
      server_processing_latency_milliseconds(r.add_histogram(
          "server_processing_latency_milliseconds",
          "Duration from the time request is received to the time events are published, divided "
          "by the batch's event count",
          {"conn_group"}, latency_bounds_ms())),
      worker_processing_duration_milliseconds(r.add_histogram(
          "worker_processing_duration_milliseconds",
          "Duration from the time request is processed to the time events are published, "
          "divided by the batch's event count",
          {"worker"}, latency_bounds_ms())),
      events_undelivered_after_ack_total(r.add_counter(
          "events_undelivered_after_ack_total",
          "Events acknowledged under EVENT_ACK=0 whose delivery then failed", {"conn_group"})),
      process_resident_memory_bytes(
          r.add_gauge("process_resident_memory_bytes", "Resident memory size in bytes")),
      process_threads(r.add_gauge("process_threads", "Number of OS threads in the process")),
      process_open_fds(r.add_gauge("process_open_fds", "Number of open file descriptors")),
      process_cpu_seconds_total(r.add_gauge("process_cpu_seconds_total",
                                            "Total user and system CPU time spent in seconds")),
      channel_batches_current(
          r.add_gauge("channel_batches_current", "Batches waiting in the channel for a worker")),
      buffer_bytes_current(r.add_gauge(
          "buffer_bytes_current",
          "Bytes held by the batches taken and not yet delivered (WORKER_BUFFER_MAX_BYTES)")) {}

registry& global_registry() {
    static registry instance;
    return instance;
}

catalog& global() {
    static catalog instance(global_registry());
    return instance;
}

void refresh_process_figures(catalog& metrics) {
    // /proc/self/stat: the fields after the command's closing parenthesis;
    // utime and stime are the 14th and 15th fields, num_threads the 20th, rss the 24th.
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    if (auto end_of_command = stat.rfind(')'); end_of_command != std::string::npos) {
        std::istringstream fields(stat.substr(end_of_command + 2));
        std::vector<std::string> values{std::istream_iterator<std::string>(fields), {}};
        // Field 3 (state) is values[0].
        auto field = [&values](std::size_t number) { return std::stod(values.at(number - 3)); };
        const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
        metrics.process_cpu_seconds_total.with({}).set((field(14) + field(15)) / ticks);
        metrics.process_threads.with({}).set(field(20));
        metrics.process_resident_memory_bytes.with({}).set(
            field(24) * static_cast<double>(sysconf(_SC_PAGESIZE)));
    }
    if (DIR* fds = opendir("/proc/self/fd")) {
        double open = 0;
        while (dirent* entry = readdir(fds)) {
            if (entry->d_name[0] != '.') ++open;
        }
        closedir(fds);
        // Less the one opendir held while counting.
        metrics.process_open_fds.with({}).set(open - 1);
    }
}

}  // namespace raccoon::metrics
