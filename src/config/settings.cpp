#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <functional>
#include <limits>
#include <raccoon/config/settings.hpp>
// GCC 12's <regex> trips -Wmaybe-uninitialized when built with
// -fsanitize=address (a false positive in its NFA's std::function moves).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#include <sstream>

extern char** environ;

namespace raccoon::config {
namespace {

using descriptor = config::descriptor<settings>;

template <typename Member>
binder<settings> header_field(Member member) {
    return {[=](settings& s, const std::string& key, const std::string& value, warning_list&) {
                bool token = !value.empty() && std::ranges::all_of(value, [](unsigned char c) {
                    return std::isalnum(c) ||
                           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
                });
                if (!token) throw invalid_setting(key, value, "an HTTP header name");
                member(s) = value;
            },
            "an HTTP header name"};
}

#define RACCOON_FIELD(path) \
    [](settings & s) -> auto& { return s.path; }

constexpr std::string_view ours = "Ours; upstream has no such setting.";

const std::vector<descriptor>& descriptors() {
    static const std::vector<descriptor> table = {
        {"SERVER_WEBSOCKET_PORT", "server.websocket.port", "8080",
         "Port of the HTTP listener: REST and WebSocket.", "",
         port_field<settings>(RACCOON_FIELD(server.websocket_port))},
        {"SERVER_BIND_ADDRESS", "server.bind_address", "0.0.0.0",
         "Address the HTTP and gRPC listeners bind to.", ours,
         string_field<settings>(RACCOON_FIELD(server.bind_address))},
        {"SERVER_IO_THREADS", "server.io_threads", "0",
         "Threads running the HTTP listener; 0 means one per core.", ours,
         integer_field<settings>(RACCOON_FIELD(server.io_threads), 0, 256)},
        {"SERVER_MAX_REQUEST_BYTES", "server.max_request_bytes", "4194304",
         "Largest request body or WebSocket message accepted; a larger one is refused unread "
         "(413).",
         "Ours; upstream reads any size into memory.",
         integer_field<settings>(RACCOON_FIELD(server.max_request_bytes), 1024, 1LL << 30)},
        {"SERVER_MAX_EVENTS_PER_REQUEST", "server.max_events_per_request", "10000",
         "Most events one request may hold; a request with more is refused with code 2 before "
         "its events are read, since each costs memory however small its bytes.",
         "Ours; upstream reads any number.",
         integer_field<settings>(RACCOON_FIELD(server.max_events_per_request), 1, 100'000'000)},
        {"SERVER_MAX_REQ_GUID_BYTES", "server.max_req_guid_bytes", "1024",
         "Longest req_guid accepted (a UUID is 36 bytes); a longer one is refused with code 2, "
         "since every ack echoes it.",
         "Ours; upstream takes a req_guid of any length.",
         integer_field<settings>(RACCOON_FIELD(server.max_req_guid_bytes), 36, 1LL << 30)},
        {"SERVER_HTTP_IDLE_TIMEOUT_MS", "server.http.idle_timeout_ms", "60000",
         "A REST connection that sends nothing for this long is closed.",
         "Ours; upstream never closes an idle REST connection.",
         duration_field<settings>(RACCOON_FIELD(server.http_idle_timeout), 100)},
        {"SERVER_SHUTDOWN_READINESS_DELAY_MS", "server.shutdown.readiness_delay_ms", "0",
         "On SIGTERM, how long GET /ready and gRPC health say not ready while the listeners "
         "still accept and serve everything, before the drain begins: a load balancer's "
         "probe interval times its failure threshold, so it stops sending first. 0 drains at "
         "once.",
         ours, duration_field<settings>(RACCOON_FIELD(server.shutdown_readiness_delay), 0)},
        {"SERVER_WEBSOCKET_MAX_CONN", "server.websocket.max_conn", "30000",
         "Most WebSocket connections held at once; one more is refused with code 4.", "",
         integer_field<settings>(RACCOON_FIELD(server.websocket_max_conn), 1, 10'000'000)},
        {"SERVER_WEBSOCKET_READ_BUFFER_SIZE", "server.websocket.read_buffer_size", "10240",
         "Accepted as upstream's (its WebSocket library's buffer); a connection here reads "
         "into 4 KiB, grown to the frame being read.",
         "Read, not used: buffers here grow with the frame.",
         integer_field<settings>(RACCOON_FIELD(server.websocket_read_buffer_size), 0, 1 << 30)},
        {"SERVER_WEBSOCKET_WRITE_BUFFER_SIZE", "server.websocket.write_buffer_size", "10240",
         "Accepted as upstream's (its WebSocket library's buffer); acks are written as they "
         "come, and only what the socket does not take is kept.",
         "Read, not used: only what the socket does not take is kept.",
         integer_field<settings>(RACCOON_FIELD(server.websocket_write_buffer_size), 0, 1 << 30)},
        {"SERVER_WEBSOCKET_PING_INTERVAL_MS", "server.websocket.ping_interval_ms", "30000",
         "How often the server pings a WebSocket.", "",
         duration_field<settings>(RACCOON_FIELD(server.websocket_ping_interval), 1)},
        {"SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS", "server.websocket.pong_wait_interval_ms",
         "60000",
         "A WebSocket whose ping goes unanswered this long, and that sends nothing else "
         "meanwhile, is closed. Checked at each ping, so a dead peer is found after at most "
         "the larger of this and the ping interval, plus one interval.",
         "Upstream measures the wait from the last pong and drops a peer that answers every "
         "ping when this is not above the ping interval; here a peer that answers is never "
         "dropped, whatever the pair.",
         duration_field<settings>(RACCOON_FIELD(server.websocket_pong_wait_interval), 1)},
        {"SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS", "server.websocket.write_wait_interval_ms",
         "5000", "A WebSocket write that stalls this long closes the connection.", "",
         duration_field<settings>(RACCOON_FIELD(server.websocket_write_wait_interval), 1)},
        {"SERVER_WEBSOCKET_PINGER_SIZE", "server.websocket.pinger_size", "1",
         "Slots of the ping wheel: connections are pinged a slot at a time, spread over the "
         "interval.",
         "Upstream starts this many goroutines that each ping their connections at once.",
         integer_field<settings>(RACCOON_FIELD(server.websocket_pinger_size), 1, 1024)},
        {"SERVER_WEBSOCKET_MAX_QUEUED_ACKS", "server.websocket.max_queued_acks", "1000",
         "Acks a WebSocket client may leave unread before it is disconnected.", ours,
         integer_field<settings>(RACCOON_FIELD(server.websocket_max_queued_acks), 1, 1'000'000)},
        {"SERVER_WEBSOCKET_MAX_QUEUED_ACK_BYTES", "server.websocket.max_queued_ack_bytes",
         "1048576",
         "Bytes of acks and other frames a WebSocket client may leave unread before it is "
         "disconnected.",
         ours,
         integer_field<settings>(RACCOON_FIELD(server.websocket_max_queued_ack_bytes), 65536,
                                 1LL << 30)},
        {"SERVER_WEBSOCKET_CHECK_ORIGIN", "server.websocket.check_origin", "true",
         "Refuse a WebSocket upgrade whose Origin is not the Host.", "",
         bool_field<settings>(RACCOON_FIELD(server.websocket_check_origin))},
        {"SERVER_WEBSOCKET_CONN_ID_HEADER", "server.websocket.conn.id_header", "X-User-ID",
         "Header naming the connection's user; one WebSocket per (user, group).",
         "Upstream has no default and refuses to start without it.",
         header_field(RACCOON_FIELD(server.conn_id_header))},
        {"SERVER_WEBSOCKET_CONN_GROUP_HEADER", "server.websocket.conn.group_header", "",
         "Header naming the connection's group.", "",
         string_field<settings>(RACCOON_FIELD(server.conn_group_header))},
        {"SERVER_WEBSOCKET_CONN_GROUP_DEFAULT", "server.websocket.conn.group_default",
         "--default--", "Group of a connection that sends no group header.", "",
         string_field<settings>(RACCOON_FIELD(server.conn_group_default))},
        {"SERVER_WEBSOCKET_SERVER_SHUTDOWN_GRACE_PERIOD_MS",
         "server.websocket.server_shutdown_grace_period_ms", "3000",
         "Accepted as older upstream releases' setting; shutdown is bounded by "
         "WORKER_BUFFER_FLUSH_TIMEOUT_MS and PUBLISHER_KAFKA_FLUSH_INTERVAL_MS here.",
         "Read, not used.", accepted_integer<settings>()},
        {"SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED", "server.batch.dedup_in_connection_enabled",
         "false", "Ack a repeated req_guid on one connection without publishing it again.", "",
         bool_field<settings>(RACCOON_FIELD(server.batch_dedup_in_connection))},
        {"SERVER_GRPC_PORT", "server.grpc.port", "8081", "Port of the gRPC EventService.", "",
         port_field<settings>(RACCOON_FIELD(server.grpc_port))},
        {"SERVER_GRPC_MAX_RECV_MESSAGE_BYTES", "server.grpc.max_recv_message_bytes", "4194304",
         "Largest gRPC request message; a larger one is refused with RESOURCE_EXHAUSTED.", ours,
         integer_field<settings>(RACCOON_FIELD(server.grpc_max_recv_message_bytes), 1024,
                                 std::numeric_limits<std::int32_t>::max())},
        {"SERVER_GRPC_MAX_CONCURRENT_STREAMS", "server.grpc.max_concurrent_streams", "100",
         "Calls one gRPC connection may have in progress at once.", ours,
         integer_field<settings>(RACCOON_FIELD(server.grpc_max_concurrent_streams), 1, 1'000'000)},
        {"SERVER_GRPC_KEEPALIVE_TIME_MS", "server.grpc.keepalive.time_ms", "7200000",
         "How long a gRPC connection may be idle before the server pings it.", ours,
         duration_field<settings>(RACCOON_FIELD(server.grpc_keepalive_time), 1000)},
        {"SERVER_GRPC_KEEPALIVE_TIMEOUT_MS", "server.grpc.keepalive.timeout_ms", "20000",
         "A gRPC connection that does not answer a keepalive ping this soon is closed.", ours,
         duration_field<settings>(RACCOON_FIELD(server.grpc_keepalive_timeout), 1)},
        {"SERVER_CORS_ENABLED", "server.cors.enabled", "false",
         "Answer CORS requests on the REST endpoint.", "",
         bool_field<settings>(RACCOON_FIELD(server.cors.enabled))},
        {"SERVER_CORS_ALLOWED_ORIGIN", "server.cors.allowed_origin", "",
         "Allowed origins; * for any.", "",
         list_field<settings>(RACCOON_FIELD(server.cors.allowed_origins))},
        {"SERVER_CORS_ALLOWED_METHODS", "server.cors.allowed_methods", "GET,HEAD,POST,OPTIONS",
         "Allowed methods.", "", list_field<settings>(RACCOON_FIELD(server.cors.allowed_methods))},
        {"SERVER_CORS_ALLOWED_HEADERS", "server.cors.allowed_headers", "",
         "Allowed headers, besides Content-Type and the id and group headers.", "",
         list_field<settings>(RACCOON_FIELD(server.cors.allowed_headers))},
        {"SERVER_CORS_ALLOW_CREDENTIALS", "server.cors.allow_credentials", "false",
         "Send Access-Control-Allow-Credentials.", "",
         bool_field<settings>(RACCOON_FIELD(server.cors.allow_credentials))},
        {"SERVER_CORS_PREFLIGHT_MAX_AGE_SECONDS", "server.cors.preflight_max_age_seconds", "0",
         "Access-Control-Max-Age of a preflight answer; 0 sends none.", "",
         integer_field<settings>(RACCOON_FIELD(server.cors.preflight_max_age_seconds), 0, 86400)},
        {"WORKER_POOL_SIZE", "worker.pool_size", "5",
         "Workers moving batches from the channel to the publisher.", "",
         integer_field<settings>(RACCOON_FIELD(worker.pool_size), 1, 1024)},
        {"WORKER_BUFFER_CHANNEL_SIZE", "worker.buffer.channel_size", "100",
         "Batches the channel holds before transports stop reading.", "",
         integer_field<settings>(RACCOON_FIELD(worker.buffer_channel_size), 1, 10'000'000)},
        {"WORKER_BUFFER_MAX_BYTES", "worker.buffer.max_bytes", "268435456",
         "Memory the batches taken and not yet delivered may hold, from the channel to their "
         "last delivery report: each event's bytes and type plus about 80 bytes of "
         "bookkeeping, and about 800 per batch. A request is counted before it is decoded, "
         "at the most its body can decode to, so one waiting for room holds only its body. "
         "Past it transports stop reading, as when the channel is full; a batch larger than "
         "this goes through alone.",
         "Ours; upstream bounds the channel in batches only.",
         integer_field<settings>(RACCOON_FIELD(worker.buffer_max_bytes), 65536, 1LL << 40)},
        {"WORKER_BUFFER_FLUSH_TIMEOUT_MS", "worker.buffer.flush_timeout_ms", "5000",
         "On shutdown, how long the workers may take to drain the channel.", "",
         duration_field<settings>(RACCOON_FIELD(worker.buffer_flush_timeout), 0)},
        {"WORKER_KAFKA_DELIVERY_CHANNEL_SIZE", "worker.kafka_delivery_channel_size", "10",
         "Accepted as upstream's; each delivery report here completes its batch directly, "
         "with no channel between them.",
         "Read, not used.", accepted_integer<settings>()},
        {"EVENT_DISTRIBUTION_PUBLISHER_PATTERN",
         "event.distribution_publisher_pattern",
         "clickstream-%s-log",
         "Topic of an event: %s is replaced by the event's type.",
         "",
         {[](settings& s, const std::string& key, const std::string& value, warning_list&) {
              std::size_t count = 0;
              for (std::size_t at = value.find("%s"); at != std::string::npos;
                   at = value.find("%s", at + 2)) {
                  ++count;
              }
              if (count > 1 || value.empty()) {
                  throw invalid_setting(key, value, "a topic name with at most one %s");
              }
              s.publisher_pattern = value;
          },
          "a topic name with at most one %s"}},
        {"EVENT_TYPE_ALLOWED_PATTERN",
         "event.type_allowed_pattern",
         "",
         "A regular expression (ECMAScript) every event type must match whole, else its batch "
         "is refused with code 2; empty allows every type that makes a legal topic name. "
         "Recommended in production: event types come from clients, and each new one makes a "
         "topic, e.g. [a-z][a-z0-9_]{0,63}.",
         ours,
         {[](settings& s, const std::string& key, const std::string& value, warning_list&) {
              try {
                  std::regex check(value, std::regex::ECMAScript);
              } catch (const std::regex_error& e) {
                  throw invalid_setting(
                      key, value,
                      std::string("an ECMAScript regular expression (") + e.what() + ")");
              }
              s.event_type_allowed_pattern = value;
          },
          "an ECMAScript regular expression"}},
        {"EVENT_DISTRIBUTION_MAX_NEW_TOPICS_PER_MINUTE",
         "event.distribution_max_new_topics_per_minute", "100",
         "Topics the publisher does not hold yet that event types may make in a minute; a batch "
         "past it is refused (HTTP 429, code 3) and may be retried later. 0: no limit.",
         "Ours; upstream lets any client make any number of topics.",
         integer_field<settings>(RACCOON_FIELD(max_new_topics_per_minute), 0, 1'000'000)},
        {"EVENT_ACK",
         "event.ack",
         "0",
         "0: ack when accepted; 1: ack when the broker confirmed every event.",
         "Upstream treats any number but 1 as 0 without a word; here that is a warning.",
         {[](settings& s, const std::string& key, const std::string& value, warning_list& w) {
              const auto mode = parse_integer(key, value, std::numeric_limits<int>::min(),
                                              std::numeric_limits<int>::max(), w);
              s.event_ack = mode == 1 ? ack_mode::on_delivery : ack_mode::on_accept;
              if (mode != 0 && mode != 1) {
                  w.push_back(key + "=" + value + " is neither 0 nor 1; acking as 0 does");
              }
          },
          "0 or 1"}},
        {"EVENT_ACK_DEADLINE_MS", "event.ack_deadline_ms", "10000",
         "With EVENT_ACK=1, a batch not delivered this long after it was read gets an error "
         "ack (code 3, the broker is unavailable); its events may still be delivered later, so "
         "a client's retry may duplicate them. While the broker does not answer, new batches "
         "are refused at once the same way. 0: wait as long as librdkafka does "
         "(PUBLISHER_KAFKA_CLIENT_MESSAGE_TIMEOUT_MS, 300 s by default).",
         "Ours; upstream waits for librdkafka's message timeout.",
         duration_field<settings>(RACCOON_FIELD(ack_deadline), 0)},
        {"PUBLISHER_TYPE",
         "publisher.type",
         "kafka",
         "Where events go: the name of a publisher (kafka, kinesis, pubsub, or log: JSON lines "
         "on stdout). Each publisher's own settings are named PUBLISHER_<NAME>_*.",
         "",
         {[](settings& s, const std::string&, const std::string& value, warning_list&) {
              s.publisher_type = lowercase(value);
          },
          "the name of a publisher"}},
        {"METRIC_RUNTIME_STATS_RECORD_INTERVAL_MS",
         "metric.runtime_stats_record_interval_ms",
         "10000",
         "Accepted as upstream's; process figures are read at each scrape and flush.",
         "Read, not used: figures are read when they are reported.",
         {[](settings&, const std::string& key, const std::string& value, warning_list& w) {
              parse_integer(key, value, 1, std::numeric_limits<std::int32_t>::max(), w);
          },
          "milliseconds, " + range_text(1, std::numeric_limits<std::int32_t>::max())}},
        {"METRIC_STATSD_ENABLED", "metric.statsd.enabled", "false", "Send metrics to statsd.", "",
         bool_field<settings>(RACCOON_FIELD(metric.statsd_enabled))},
        {"METRIC_STATSD_ADDRESS", "metric.statsd.address", ":8125", "statsd host:port.", "",
         string_field<settings>(RACCOON_FIELD(metric.statsd_address))},
        {"METRIC_STATSD_FLUSH_PERIOD_MS", "metric.statsd.flush_period_ms", "10000",
         "How often metrics go to statsd.", "",
         duration_field<settings>(RACCOON_FIELD(metric.statsd_flush_period), 1)},
        {"METRIC_PROMETHEUS_ENABLED", "metric.prometheus.enabled", "false",
         "Serve metrics for Prometheus.", "",
         bool_field<settings>(RACCOON_FIELD(metric.prometheus_enabled))},
        {"METRIC_PROMETHEUS_PORT", "metric.prometheus.port", "9090",
         "Port of the Prometheus endpoint.", "",
         port_field<settings>(RACCOON_FIELD(metric.prometheus_port))},
        {"METRIC_PROMETHEUS_PATH",
         "metric.prometheus.path",
         "/metrics",
         "Path of the Prometheus endpoint.",
         "A path without its leading / is served with one, with a warning; upstream's router "
         "never matches it.",
         {[](settings& s, const std::string& key, const std::string& value, warning_list& w) {
              s.metric.prometheus_path = value.starts_with('/') ? value : "/" + value;
              if (!value.starts_with('/')) {
                  w.push_back(key + "=" + value + " does not start with /; serving " +
                              s.metric.prometheus_path);
              }
          },
          "a path"}},
        {"METRIC_EVENT_TYPE_LIMIT", "metric.event_type_limit", "100",
         "Distinct event types the metrics tell apart; later ones are reported as \"other\".", ours,
         integer_field<settings>(RACCOON_FIELD(metric.event_type_limit), 1, 100000)},
        {"METRIC_CONN_GROUP_LIMIT", "metric.conn_group_limit", "100",
         "Distinct connection groups the metrics tell apart; later ones are reported as "
         "\"other\".",
         ours, integer_field<settings>(RACCOON_FIELD(metric.conn_group_limit), 1, 100000)},
        {"LOG_LEVEL", "log.level", "info", "trace, debug, info, warn, error or off.",
         "Upstream's fatal and panic are taken as error.",
         choice_field<settings>(
             RACCOON_FIELD(log_level),
             std::vector<std::pair<std::string, std::string>>{{"trace", "trace"},
                                                              {"debug", "debug"},
                                                              {"info", "info"},
                                                              {"warn", "warn"},
                                                              {"warning", "warn"},
                                                              {"error", "error"},
                                                              {"fatal", "error"},
                                                              {"panic", "error"},
                                                              {"off", "off"}},
             "trace, debug, info, warn, error or off")},
        {"LOG_FORMAT", "log.format", "text",
         "text, or json: one JSON object per line for log shippers.", ours,
         choice_field<settings>(RACCOON_FIELD(log_format),
                                std::vector<std::pair<std::string, log_encoding>>{
                                    {"text", log_encoding::text}, {"json", log_encoding::json}},
                                "text or json")},
        {"LOG_REQUEST_ERRORS_PER_SECOND", "log.request_errors_per_second", "10",
         "Log lines about bad requests per second, beyond which they are counted and summed "
         "up; 0 logs every one.",
         ours, integer_field<settings>(RACCOON_FIELD(log_request_errors_per_second), 0, 1000000)},
    };
    return table;
}

#undef RACCOON_FIELD

// Every setting load() knows: the table's, then the groups'.
class known_settings {
 public:
    explicit known_settings(const std::vector<const setting_group*>& groups) : groups_(groups) {
        for (const auto& d : descriptors()) {
            rows_.push_back({d.key, d.yaml, d.default_value, d.meaning, d.upstream, d.bind.allowed,
                             d.bind.is_boolean});
        }
        for (const auto* group : groups)
            rows_.insert(rows_.end(), group->rows().begin(), group->rows().end());
    }

    const std::vector<setting_row>& rows() const noexcept { return rows_; }

    const setting_row* find(std::string_view key) const {
        auto row = std::ranges::find(rows_, key, &setting_row::key);
        return row == rows_.end() ? nullptr : &*row;
    }

    // Whether a group, rather than the table, reads the key.
    bool group_owns(std::string_view key) const {
        return std::ranges::any_of(groups_, [key](const auto* g) { return g->owns(key); });
    }

    bool knows(std::string_view key) const { return find(key) != nullptr || group_owns(key); }

    const std::vector<const setting_group*>& groups() const noexcept { return groups_; }

 private:
    const std::vector<const setting_group*>& groups_;
    std::vector<setting_row> rows_;
};

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// The warning for a key no setting has: its name, and the known key it most
// likely meant when one is near enough to be a slip.
std::string unknown_key_warning(const known_settings& known, const std::string& key,
                                const std::string& source) {
    std::string warning = "unknown setting " + key + " (in " + source + ") is ignored";
    const setting_row* nearest = nullptr;
    std::size_t best = std::max<std::size_t>(3, key.size() / 5) + 1;
    for (const auto& row : known.rows()) {
        if (const std::size_t distance = edit_distance(key, row.key); distance < best) {
            best = distance;
            nearest = &row;
        }
    }
    if (nearest != nullptr) warning += "; did you mean " + std::string(nearest->key) + "?";
    return warning;
}

// Variables of the families upstream's settings belong to: one of these that
// names no setting is most likely a misspelt one.
bool looks_like_a_setting(std::string_view key) {
    for (std::string_view family : {"SERVER_", "WORKER_", "EVENT_", "PUBLISHER_", "METRIC_"}) {
        if (key.starts_with(family)) return true;
    }
    return false;
}

using raw_values = given_values;

void flatten_yaml(const YAML::Node& node, const std::string& prefix, raw_values& out) {
    if (node.IsMap()) {
        for (const auto& entry : node) {
            std::string key = canonical_key(entry.first.as<std::string>());
            flatten_yaml(entry.second, prefix.empty() ? key : prefix + "_" + key, out);
        }
    } else if (node.IsSequence()) {
        std::string joined;
        for (const auto& item : node) {
            if (!joined.empty()) joined += ",";
            joined += item.as<std::string>();
        }
        out[prefix] = joined;
    } else if (node.IsScalar()) {
        out[prefix] = node.as<std::string>();
    } else if (node.IsNull() && !prefix.empty()) {
        out[prefix] = "";
    }
}

raw_values read_file(const known_settings& known, const std::string& path,
                     std::vector<std::string>& warnings) {
    // yaml-cpp opens a directory and then throws from its first read, leaking
    // its buffer; refuse it before.
    std::error_code ignored;
    if (std::filesystem::is_directory(path, ignored)) {
        throw invalid_setting("--config", path, "a readable YAML file, not a directory");
    }
    raw_values values;
    try {
        flatten_yaml(YAML::LoadFile(path), "", values);
    } catch (const std::exception& e) {
        // YAML::Exception for bad syntax or a value of the wrong shape;
        // std::ios_base::failure when the file cannot be read.
        throw invalid_setting("--config", path,
                              std::string("a readable YAML file (") + e.what() + ")");
    }
    // As upstream, a key no setting has is left alone, here with a warning.
    for (auto entry = values.begin(); entry != values.end();) {
        if (known.knows(entry->first)) {
            ++entry;
            continue;
        }
        warnings.push_back(unknown_key_warning(known, entry->first, path));
        entry = values.erase(entry);
    }
    return values;
}

struct parsed_args {
    std::string config_file;
    raw_values flags;
};

bool is_boolean_text(const std::string& text) {
    try {
        parse_bool("", text);
        return true;
    } catch (const invalid_setting&) {
        return false;
    }
}

// Flags as upstream's command line (pflag) takes them: --name=value,
// --name value, a boolean's bare --name for true, and -c FILE, -c=FILE or
// -cFILE for --config FILE.
parsed_args parse_args(const known_settings& known, const std::vector<std::string>& args) {
    parsed_args parsed;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.starts_with("-c") && !arg.starts_with("--")) {
            if (arg.size() > 2) {
                parsed.config_file = arg.substr(arg[2] == '=' ? 3 : 2);
            } else if (i + 1 < args.size()) {
                parsed.config_file = args[++i];
            } else {
                throw invalid_setting(arg, "", "a file after -c");
            }
            continue;
        }
        if (!arg.starts_with("--")) {
            throw invalid_setting(arg, "", "a flag of the form --name=value or --name value");
        }
        std::string name = arg.substr(2);
        std::string value;
        const auto eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        }
        const std::string key = canonical_key(name);
        if (eq == std::string::npos) {
            const setting_row* row = known.find(key);
            if (row != nullptr && row->is_boolean &&
                (i + 1 == args.size() || !is_boolean_text(args[i + 1]))) {
                value = "true";
            } else if (i + 1 < args.size()) {
                value = args[++i];
            } else {
                throw invalid_setting(arg, "", "a value after the flag");
            }
        }
        if (name == "config") {
            parsed.config_file = value;
            continue;
        }
        // As upstream's command line, a flag it does not know is refused.
        if (!known.knows(key)) {
            throw invalid_setting("--" + name, value, "a known setting; see --help");
        }
        parsed.flags[key] = value;
    }
    return parsed;
}

void warn_about_risky_pairs(settings& s) {
    const auto& server = s.server;
    if (server.websocket_pong_wait_interval <= server.websocket_ping_interval) {
        s.warnings.push_back(
            "SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS (" +
            std::to_string(server.websocket_pong_wait_interval.count()) +
            ") is not above SERVER_WEBSOCKET_PING_INTERVAL_MS (" +
            std::to_string(server.websocket_ping_interval.count()) +
            "): a peer that answers pings stays connected, but one that stops answering is "
            "closed only at the ping after the wait, up to " +
            std::to_string(2 * server.websocket_ping_interval.count()) + " ms after its last pong");
    }
}

std::string markdown_cell(std::string_view text) {
    std::string cell;
    for (char c : text) {
        if (c == '|') cell += "\\";
        cell += c;
    }
    return cell;
}

std::string flag_of(std::string_view key) {
    std::string flag = "--";
    for (char c : key) {
        flag += c == '_' ? '.' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return flag;
}

// YAML's plain scalars cannot start with these or hold ": " or " #".
std::string yaml_scalar(std::string_view value) {
    const bool plain =
        !value.empty() &&
        std::string_view("-?:,[]{}#&*!|>'\"%@`").find(value.front()) == std::string_view::npos &&
        value.find(": ") == std::string_view::npos && value.find(" #") == std::string_view::npos;
    if (plain) return std::string(value);
    std::string quoted = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
    }
    return quoted + "\"";
}

// Wraps `text` into lines of at most `width` characters, each started by `prefix`.
std::string wrapped(std::string_view text, std::string_view prefix, std::size_t width) {
    std::string out;
    std::string line(prefix);
    std::istringstream words{std::string(text)};
    for (std::string word; words >> word;) {
        const bool first = line.size() == prefix.size();
        if (!first && line.size() + 1 + word.size() > width) {
            out += line + "\n";
            line = prefix;
        }
        if (line.size() > prefix.size()) line += ' ';
        line += word;
    }
    return out + line + "\n";
}

}  // namespace

invalid_setting::invalid_setting(const std::string& key, const std::string& value,
                                 const std::string& allowed)
    : std::runtime_error("invalid setting " + key + "=\"" + value + "\": expected " + allowed),
      key_(key) {}

std::string range_text(std::int64_t min, std::int64_t max) {
    return std::to_string(min) + " to " + std::to_string(max);
}

std::int64_t parse_integer(const std::string& key, const std::string& value, std::int64_t min,
                           std::int64_t max, warning_list& warnings, out_of_range policy) {
    std::int64_t parsed = 0;
    const char* first = value.data();
    const char* last = value.data() + value.size();
    // Go's strconv.Atoi, which upstream parses integers with, takes a leading '+'.
    if (value.size() > 1 && value[0] == '+' && value[1] != '-') ++first;
    // Beyond 64 bits Go's parser fails too, so upstream refuses it as well.
    auto [end, error] = std::from_chars(first, last, parsed);
    if (error != std::errc{} || end != last) {
        throw invalid_setting(key, value, "an integer from " + range_text(min, max));
    }
    if (parsed >= min && parsed <= max) return parsed;
    if (policy == out_of_range::refuse) {
        throw invalid_setting(key, value, "an integer from " + range_text(min, max));
    }
    const std::int64_t used = std::clamp(parsed, min, max);
    warnings.push_back(key + "=" + value + " is outside " + range_text(min, max) + "; using " +
                       std::to_string(used));
    return used;
}

bool parse_bool(const std::string& key, const std::string& value) {
    const std::string lower = lowercase(value);
    // Go's strconv.ParseBool, which upstream parses booleans with, also takes t and f.
    if (lower == "true" || lower == "t" || lower == "1") return true;
    if (lower == "false" || lower == "f" || lower == "0") return false;
    throw invalid_setting(key, value, "true or false");
}

std::vector<std::string> parse_list(const std::string& value) {
    std::vector<std::string> items;
    std::string current;
    for (char c : value) {
        if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
            if (!current.empty()) items.push_back(std::move(current));
            current.clear();
        } else {
            current.push_back(c);
        }
    }
    if (!current.empty()) items.push_back(std::move(current));
    return items;
}

std::string lowercase(std::string text) {
    std::ranges::transform(text, text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

bool setting_group::owns(std::string_view key) const {
    return (!prefix_.empty() && key.starts_with(prefix_) && key.size() > prefix_.size()) ||
           std::ranges::find(rows_, key, &setting_row::key) != rows_.end();
}

std::string canonical_key(std::string_view spelling) {
    std::string key(spelling);
    for (char& c : key) {
        c = (c == '.' || c == '-') ? '_'
                                   : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return key;
}

environment process_environment() {
    environment env;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        std::string_view text(*entry);
        auto eq = text.find('=');
        if (eq == std::string_view::npos) continue;
        env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
    }
    return env;
}

settings load(const std::vector<std::string>& args, const environment& env,
              const std::vector<const setting_group*>& groups) {
    const known_settings known(groups);
    parsed_args parsed = parse_args(known, args);
    std::vector<std::string> warnings;

    raw_values values;
    if (!parsed.config_file.empty()) {
        for (auto& [key, value] : read_file(known, parsed.config_file, warnings)) {
            values[key] = value;
        }
    }
    for (const auto& [key, value] : env) {
        // An empty variable counts as unset, as in viper, which upstream reads it with.
        if (value.empty()) continue;
        if (known.knows(key)) {
            values[key] = value;
        } else if (looks_like_a_setting(key)) {
            warnings.push_back(unknown_key_warning(known, key, "the environment"));
        }
    }
    for (auto& [key, value] : parsed.flags) values[key] = value;

    settings result;
    for (const auto& d : descriptors()) {
        const std::string key(d.key);
        const auto given = values.find(key);
        d.bind.apply(result, key,
                     given != values.end() ? given->second : std::string(d.default_value),
                     warnings);
    }
    for (const auto& [key, value] : values) {
        if (known.group_owns(key)) result.group_values.emplace(key, value);
    }
    for (const auto* group : groups) group->check(result.group_values, warnings);
    result.warnings = std::move(warnings);

    if (result.server.grpc_port == result.server.websocket_port) {
        throw invalid_setting("SERVER_GRPC_PORT", std::to_string(result.server.grpc_port),
                              "a port other than SERVER_WEBSOCKET_PORT");
    }
    warn_about_risky_pairs(result);
    return result;
}

std::string help_text(const std::vector<const setting_group*>& groups) {
    std::ostringstream out;
    out << "Usage: raccoon server [-c FILE | --config FILE] [--NAME=VALUE ...]\n\n"
           "Every setting is read, in rising precedence, from its default, the YAML file\n"
           "given by --config, the environment variable NAME, and the flag --NAME (also\n"
           "spelled --name.with.dots or --name-with-dashes). A key the file or the\n"
           "environment has that no setting has is ignored with a warning.\n\n";
    const known_settings known(groups);
    for (const auto& d : known.rows()) {
        out << "  " << d.key << " (default \"" << d.default_value << "\")\n      " << d.meaning
            << "\n";
    }
    return out.str();
}

std::string reference_markdown(const std::vector<const setting_group*>& groups) {
    std::ostringstream out;
    out << "| Variable | YAML key | Flag | Default | Accepted | Meaning | Upstream |\n"
           "|---|---|---|---|---|---|---|\n";
    const known_settings known(groups);
    for (const auto& d : known.rows()) {
        out << "| `" << d.key << "` | `" << d.yaml << "` | `" << flag_of(d.key) << "` | "
            << (d.default_value.empty() ? "" : "`" + std::string(d.default_value) + "`") << " | "
            << markdown_cell(d.allowed) << " | " << markdown_cell(d.meaning) << " | "
            << (d.upstream.empty() ? "Same." : markdown_cell(d.upstream)) << " |\n";
    }
    return out.str();
}

std::string sample_yaml(const std::vector<const setting_group*>& groups) {
    // The settings as a tree of YAML maps, each map's keys in the order the
    // table first names them.
    struct yaml_node {
        std::string name;
        const setting_row* setting = nullptr;
        std::vector<yaml_node> children;
    };
    yaml_node root;
    const known_settings known(groups);
    for (const auto& d : known.rows()) {
        yaml_node* at = &root;
        std::istringstream parts{std::string(d.yaml)};
        for (std::string part; std::getline(parts, part, '.');) {
            auto child = std::ranges::find(at->children, part, &yaml_node::name);
            if (child == at->children.end()) {
                at->children.push_back({part, nullptr, {}});
                child = std::prev(at->children.end());
            }
            at = &*child;
        }
        at->setting = &d;
    }
    std::ostringstream out;
    out << "# Raccoon's settings, every one at its default (generated by `raccoon config\n"
           "# sample`; docs/configuration.md says more of each). Load it with\n"
           "# `raccoon server -c config/raccoon.yaml`. Keys nest as in upstream's\n"
           "# config.sample.yml: the path joined with \"_\" and upper-cased is the variable,\n"
           "# so server.websocket.port is SERVER_WEBSOCKET_PORT. The environment and\n"
           "# flags override this file.\n";
    auto write = [&out](const yaml_node& node, std::size_t depth, auto& again) -> void {
        const std::string indent(2 * depth, ' ');
        if (node.setting != nullptr) {
            out << wrapped(node.setting->meaning, indent + "# ", 100) << indent << node.name << ": "
                << yaml_scalar(node.setting->default_value) << "\n";
            return;
        }
        if (depth == 0) out << "\n";
        out << indent << node.name << ":\n";
        for (const auto& child : node.children) again(child, depth + 1, again);
    };
    for (const auto& top : root.children) write(top, 0, write);
    return out.str();
}

}  // namespace raccoon::config
