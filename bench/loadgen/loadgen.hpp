#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.hpp"

namespace boost::asio {
class io_context;
}

// raccoon-loadgen: drives a raccoon server over WebSocket, REST or gRPC and
// measures what comes back. Only the transports' translation units
// (ws_session.cpp and rest_session.cpp for Beast, grpc_session.cpp for gRPC)
// include those libraries; everything here is plain C++.
namespace raccoon::loadgen {

using clock = std::chrono::steady_clock;

enum class transport { websocket, rest, grpc };
enum class wire_format { proto, json };

// The command line, validated.
struct options {
    transport kind = transport::websocket;
    std::string url;
    std::string host;  // an IPv4 literal
    std::uint16_t port = 0;
    std::string target;  // the path, e.g. /api/v1/events; unused by gRPC
    wire_format format = wire_format::proto;

    std::size_t connections = 1;
    std::vector<std::uint32_t> source_addresses;  // host byte order; empty: let the kernel pick
    std::string id_header = "X-User-ID";
    std::string id_prefix = "loadgen-";
    std::string group_header;
    std::string group;
    std::string guid_prefix;  // default: random per run

    std::size_t batch_size = 1;
    std::size_t event_size = 100;
    std::size_t event_types = 1;

    double rate = 0;  // open loop: requests/s over all connections; 0 = closed loop
    std::size_t window = 1;
    std::uint64_t requests = 0;  // per connection; 0 = until --duration
    double duration_s = 0;
    double warmup_s = 0;
    bool idle = false;

    double connect_timeout_s = 10;
    std::size_t connect_concurrency = 256;
    double drain_timeout_s = 10;
    double timeout_s = 0;  // hard cap on the whole run; 0 = derived
    double progress_s = 0;

    unsigned threads = 1;
    std::string json_out;
    bool print_acks = false;
};

// Parses argv; on a bad or missing value returns the message to print.
std::optional<options> parse_options(int argc, char** argv, std::string& error);
std::string usage();

// What one io thread counted; merged after the run.
struct stats {
    std::uint64_t requests_sent = 0;
    std::uint64_t events_sent = 0;
    std::uint64_t acks_ok = 0;
    std::uint64_t acks_error = 0;
    std::uint64_t events_acked_ok = 0;
    std::uint64_t unmatched_acks = 0;  // a req_guid not in flight on that connection
    std::uint64_t bad_acks = 0;        // undecodable, or in the other wire format
    std::uint64_t refusals = 0;        // a connection refused after the upgrade (no req_guid)
    // Error acks by SendEventResponse code (index = the enum value; last = unknown).
    std::array<std::uint64_t, 8> error_codes{};
    std::map<std::string, std::uint64_t> transport_errors;

    // Requests sent at or after the end of the warm-up.
    std::uint64_t measured_acks = 0;
    std::uint64_t measured_events = 0;
    clock::time_point last_measured_ack{};
    histogram latency;
    // Open loop only: how late the generator itself got to each measured
    // request after its due time. Latency counts from the due time, so a
    // generator short of CPU shows up in it; this says how much was its own.
    histogram schedule_lag;

    void merge(const stats& other);
};

// A decoded SendEventResponse.
struct ack {
    int status = 0;
    int code = 0;
    std::string req_guid;
    std::string reason;
};

// State shared by the runner and every session of one run.
struct run_state {
    explicit run_state(const options& o) : opts(o) {}

    const options& opts;
    // Set once, before any session begins sending; read-only afterwards.
    clock::time_point start_sending{};
    clock::time_point measure_start{};

    std::atomic<std::uint64_t> connected{0};
    std::atomic<std::uint64_t> connect_failed{0};
    std::atomic<std::uint64_t> lost{0};  // connected, then ended by the server or the network
    std::atomic<std::uint64_t> acks{0};
    std::atomic<std::uint64_t> sent{0};

    // The calling thread's stats.
    stats& local();
    // All threads' stats, merged; call when no io thread runs.
    stats merged() const;

    // One --print-acks line, written whole.
    void print_ack(const ack& a);

 private:
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<stats>> per_thread_;
};

// One client connection. Every method may be called from any thread; the
// session runs its handlers on its own strand.
class session {
 public:
    virtual ~session() = default;
    // Connects and upgrades (WebSocket) and reports once through `on_ready`.
    virtual void start(std::function<void(bool connected)> on_ready,
                       std::function<void()> on_done) = 0;
    // Starts sending by the plan in run_state.
    virtual void begin() = 0;
    // Sends nothing more; closes once every request in flight is answered.
    virtual void stop() = 0;
    // Closes now, whatever is in flight.
    virtual void finish() = 0;
    // Requests still unanswered; only once the io threads have stopped.
    virtual std::size_t unacked() const = 0;
};

// Implemented by ws_session.cpp, rest_session.cpp and grpc_session.cpp; each
// session gets its own strand of `io`. `index` numbers the connection (its id,
// its guids).
std::shared_ptr<session> make_ws_session(run_state& run, std::size_t index,
                                         boost::asio::io_context& io);
std::shared_ptr<session> make_rest_session(run_state& run, std::size_t index,
                                           boost::asio::io_context& io);
std::shared_ptr<session> make_grpc_session(run_state& run, std::size_t index,
                                           boost::asio::io_context& io);

// "websocket", "rest" or "grpc".
const char* transport_name(transport kind);

// Runs the whole plan; returns the merged stats and the number left unacked.
struct run_result {
    stats totals;
    std::uint64_t unacked = 0;
    std::uint64_t connections_opened = 0;
    std::uint64_t connections_failed = 0;
    std::uint64_t connections_lost = 0;
    double measured_seconds = 0;
    bool interrupted = false;
};
run_result run(const options& opts);

}  // namespace raccoon::loadgen
