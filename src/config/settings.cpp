#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <functional>
#include <limits>
#include <raccoon/config/settings.hpp>
#include <sstream>

extern char** environ;

namespace raccoon::config {
namespace {

constexpr std::string_view kafka_client_prefix = "PUBLISHER_KAFKA_CLIENT_";
// librdkafka's linger.ms and queue.buffering.max.ms are one property: our
// default for the first must not override a value given for the second.
constexpr std::string_view linger_key = "PUBLISHER_KAFKA_CLIENT_LINGER_MS";
constexpr std::string_view linger_alias_key = "PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MS";

using apply_fn = std::function<void(settings&, const std::string& key, const std::string& value)>;

struct descriptor {
    std::string_view key;
    std::string_view default_value;
    std::string_view meaning;
    apply_fn apply;
};

std::int64_t parse_integer(const std::string& key, const std::string& value, std::int64_t min,
                           std::int64_t max) {
    std::int64_t parsed = 0;
    const char* first = value.data();
    const char* last = value.data() + value.size();
    // Go's strconv.Atoi, which upstream parses integers with, takes a leading '+'.
    if (value.size() > 1 && value[0] == '+' && value[1] != '-') ++first;
    auto [end, error] = std::from_chars(first, last, parsed);
    if (error != std::errc{} || end != last) {
        throw invalid_setting(
            key, value, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
    }
    if (parsed < min || parsed > max) {
        throw invalid_setting(
            key, value, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
    }
    return parsed;
}

bool parse_bool(const std::string& key, const std::string& value) {
    std::string lower = value;
    std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return std::tolower(c); });
    // Go's strconv.ParseBool, which upstream parses booleans with, also takes t and f.
    if (lower == "true" || lower == "t" || lower == "1") return true;
    if (lower == "false" || lower == "f" || lower == "0") return false;
    throw invalid_setting(key, value, "true or false");
}

// Upstream takes lists separated by commas or spaces (viper's string slices).
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

// Binders from a setting's text to one field of the settings, with its range.
template <typename Member>
apply_fn integer_field(Member member, std::int64_t min, std::int64_t max) {
    return [=](settings& s, const std::string& key, const std::string& value) {
        auto& field = member(s);
        field = static_cast<std::remove_reference_t<decltype(field)>>(
            parse_integer(key, value, min, max));
    };
}

template <typename Member>
apply_fn duration_field(Member member, std::int64_t min_ms) {
    return [=](settings& s, const std::string& key, const std::string& value) {
        member(s) = milliseconds{
            parse_integer(key, value, min_ms, std::numeric_limits<std::int32_t>::max())};
    };
}

template <typename Member>
apply_fn bool_field(Member member) {
    return [=](settings& s, const std::string& key, const std::string& value) {
        member(s) = parse_bool(key, value);
    };
}

template <typename Member>
apply_fn string_field(Member member) {
    return [=](settings& s, const std::string&, const std::string& value) { member(s) = value; };
}

template <typename Member>
apply_fn list_field(Member member) {
    return [=](settings& s, const std::string&, const std::string& value) {
        member(s) = parse_list(value);
    };
}

template <typename Member>
apply_fn header_field(Member member) {
    return [=](settings& s, const std::string& key, const std::string& value) {
        bool token = std::ranges::all_of(value, [](unsigned char c) {
            return std::isalnum(c) ||
                   std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
        });
        if (!token) throw invalid_setting(key, value, "an HTTP header name");
        member(s) = value;
    };
}

#define RACCOON_FIELD(path) \
    [](settings & s) -> auto& { return s.path; }

const std::vector<descriptor>& descriptors() {
    static const std::vector<descriptor> table = {
        {"SERVER_WEBSOCKET_PORT", "8080", "Port of the HTTP listener: REST and WebSocket.",
         integer_field(RACCOON_FIELD(server.websocket_port), 1, 65535)},
        {"SERVER_BIND_ADDRESS", "0.0.0.0", "Address the HTTP listener binds to.",
         string_field(RACCOON_FIELD(server.bind_address))},
        {"SERVER_IO_THREADS", "0", "Threads running the HTTP listener; 0 means one per core.",
         integer_field(RACCOON_FIELD(server.io_threads), 0, 256)},
        {"SERVER_MAX_REQUEST_BYTES", "4194304",
         "Largest request body or message accepted; a larger one is refused unread.",
         integer_field(RACCOON_FIELD(server.max_request_bytes), 1024, 1LL << 30)},
        {"SERVER_HTTP_IDLE_TIMEOUT_MS", "60000",
         "A REST connection that sends nothing for this long is closed.",
         duration_field(RACCOON_FIELD(server.http_idle_timeout), 100)},
        {"SERVER_WEBSOCKET_MAX_CONN", "30000", "Most WebSocket connections held at once.",
         integer_field(RACCOON_FIELD(server.websocket_max_conn), 1, 10'000'000)},
        {"SERVER_WEBSOCKET_READ_BUFFER_SIZE", "10240",
         "Accepted as upstream's (its WebSocket library's buffer); a connection here reads "
         "into 4 KiB, grown to the frame being read.",
         integer_field(RACCOON_FIELD(server.websocket_read_buffer_size), 0, 1 << 30)},
        {"SERVER_WEBSOCKET_WRITE_BUFFER_SIZE", "10240",
         "Accepted as upstream's (its WebSocket library's buffer); acks are written as they "
         "come, and only what the socket does not take is kept.",
         integer_field(RACCOON_FIELD(server.websocket_write_buffer_size), 0, 1 << 30)},
        {"SERVER_WEBSOCKET_PING_INTERVAL_MS", "30000", "How often the server pings a WebSocket.",
         duration_field(RACCOON_FIELD(server.websocket_ping_interval), 1)},
        {"SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS", "60000",
         "A WebSocket that answers no ping for this long is closed.",
         duration_field(RACCOON_FIELD(server.websocket_pong_wait_interval), 1)},
        {"SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS", "5000",
         "A WebSocket write that stalls this long closes the connection.",
         duration_field(RACCOON_FIELD(server.websocket_write_wait_interval), 1)},
        {"SERVER_WEBSOCKET_PINGER_SIZE", "1", "Pinger tasks (kept for upstream compatibility).",
         integer_field(RACCOON_FIELD(server.websocket_pinger_size), 1, 1024)},
        {"SERVER_WEBSOCKET_MAX_QUEUED_ACKS", "1000",
         "Acks a WebSocket client may leave unread before it is disconnected.",
         integer_field(RACCOON_FIELD(server.websocket_max_queued_acks), 1, 1'000'000)},
        {"SERVER_WEBSOCKET_CHECK_ORIGIN", "true",
         "Refuse a WebSocket upgrade whose Origin is not the Host.",
         bool_field(RACCOON_FIELD(server.websocket_check_origin))},
        {"SERVER_WEBSOCKET_CONN_ID_HEADER", "X-User-ID", "Header naming the connection's user.",
         header_field(RACCOON_FIELD(server.conn_id_header))},
        {"SERVER_WEBSOCKET_CONN_GROUP_HEADER", "", "Header naming the connection's group.",
         string_field(RACCOON_FIELD(server.conn_group_header))},
        {"SERVER_WEBSOCKET_CONN_GROUP_DEFAULT", "--default--",
         "Group of a connection that sends no group header.",
         string_field(RACCOON_FIELD(server.conn_group_default))},
        {"SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED", "false",
         "Ack a repeated req_guid on one connection without publishing it again.",
         bool_field(RACCOON_FIELD(server.batch_dedup_in_connection))},
        {"SERVER_GRPC_PORT", "8081", "Port of the gRPC EventService.",
         integer_field(RACCOON_FIELD(server.grpc_port), 1, 65535)},
        {"SERVER_GRPC_MAX_RECV_MESSAGE_BYTES", "4194304",
         "Largest gRPC request message; a larger one is refused with RESOURCE_EXHAUSTED.",
         integer_field(RACCOON_FIELD(server.grpc_max_recv_message_bytes), 1024,
                       std::numeric_limits<std::int32_t>::max())},
        {"SERVER_GRPC_MAX_CONCURRENT_STREAMS", "100",
         "Calls one gRPC connection may have in progress at once.",
         integer_field(RACCOON_FIELD(server.grpc_max_concurrent_streams), 1, 1'000'000)},
        {"SERVER_GRPC_KEEPALIVE_TIME_MS", "7200000",
         "How long a gRPC connection may be idle before the server pings it.",
         duration_field(RACCOON_FIELD(server.grpc_keepalive_time), 1000)},
        {"SERVER_GRPC_KEEPALIVE_TIMEOUT_MS", "20000",
         "A gRPC connection that does not answer a keepalive ping this soon is closed.",
         duration_field(RACCOON_FIELD(server.grpc_keepalive_timeout), 1)},
        {"SERVER_CORS_ENABLED", "false", "Answer CORS requests on the REST endpoint.",
         bool_field(RACCOON_FIELD(server.cors.enabled))},
        {"SERVER_CORS_ALLOWED_ORIGIN", "", "Allowed origins, separated by commas; * for any.",
         list_field(RACCOON_FIELD(server.cors.allowed_origins))},
        {"SERVER_CORS_ALLOWED_METHODS", "GET,HEAD,POST,OPTIONS", "Allowed methods.",
         list_field(RACCOON_FIELD(server.cors.allowed_methods))},
        {"SERVER_CORS_ALLOWED_HEADERS", "",
         "Allowed headers, besides Content-Type and the id and group headers.",
         list_field(RACCOON_FIELD(server.cors.allowed_headers))},
        {"SERVER_CORS_ALLOW_CREDENTIALS", "false", "Send Access-Control-Allow-Credentials.",
         bool_field(RACCOON_FIELD(server.cors.allow_credentials))},
        {"SERVER_CORS_PREFLIGHT_MAX_AGE_SECONDS", "0",
         "Access-Control-Max-Age of a preflight answer; 0 sends none.",
         integer_field(RACCOON_FIELD(server.cors.preflight_max_age_seconds), 0, 86400)},
        {"WORKER_POOL_SIZE", "5", "Workers moving batches from the channel to the publisher.",
         integer_field(RACCOON_FIELD(worker.pool_size), 1, 1024)},
        {"WORKER_BUFFER_CHANNEL_SIZE", "100",
         "Batches the channel holds before transports stop reading.",
         integer_field(RACCOON_FIELD(worker.buffer_channel_size), 1, 10'000'000)},
        {"WORKER_BUFFER_FLUSH_TIMEOUT_MS", "5000",
         "On shutdown, how long the workers may take to drain the channel.",
         duration_field(RACCOON_FIELD(worker.buffer_flush_timeout), 0)},
        {"EVENT_DISTRIBUTION_PUBLISHER_PATTERN", "clickstream-%s-log",
         "Topic of an event: %s is replaced by the event's type.",
         [](settings& s, const std::string& key, const std::string& value) {
             std::size_t count = 0;
             for (std::size_t at = value.find("%s"); at != std::string::npos;
                  at = value.find("%s", at + 2)) {
                 ++count;
             }
             if (count > 1 || value.empty()) {
                 throw invalid_setting(key, value, "a topic name with at most one %s");
             }
             s.publisher_pattern = value;
         }},
        {"EVENT_ACK", "0", "0: ack when accepted; 1: ack when the broker confirmed every event.",
         [](settings& s, const std::string& key, const std::string& value) {
             if (value == "0") {
                 s.event_ack = ack_mode::on_accept;
             } else if (value == "1") {
                 s.event_ack = ack_mode::on_delivery;
             } else {
                 throw invalid_setting(key, value, "0 or 1");
             }
         }},
        {"PUBLISHER_TYPE", "kafka", "Where events go: kafka, or log (JSON lines on stdout).",
         [](settings& s, const std::string& key, const std::string& value) {
             std::string lower = value;
             std::ranges::transform(lower, lower.begin(),
                                    [](unsigned char c) { return std::tolower(c); });
             if (lower == "kafka") {
                 s.publisher = publisher_type::kafka;
             } else if (lower == "log") {
                 s.publisher = publisher_type::log;
             } else {
                 throw invalid_setting(key, value, "kafka or log");
             }
         }},
        {"PUBLISHER_KAFKA_FLUSH_INTERVAL_MS", "1000",
         "On shutdown, how long the publisher may take to deliver what it holds.",
         duration_field(RACCOON_FIELD(kafka.flush_interval), 0)},
        {"PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS", "",
         "Kafka brokers, host:port separated by commas. Every PUBLISHER_KAFKA_CLIENT_* "
         "setting is passed to librdkafka with _ turned into .",
         nullptr},
        {"PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MESSAGES", "100000",
         "Messages librdkafka holds before produce waits.", nullptr},
        {linger_key, "1",
         "How long librdkafka gathers a partition's messages before sending them "
         "(librdkafka's own default is 5): with EVENT_ACK=1 every ack waits for it. "
         "PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MS is the same property and, when "
         "set, replaces this default.",
         nullptr},
        {"METRIC_RUNTIME_STATS_RECORD_INTERVAL_MS", "10000",
         "Accepted as upstream's; process figures are read at each scrape and statsd flush.",
         [](settings&, const std::string& key, const std::string& value) {
             parse_integer(key, value, 1, std::numeric_limits<std::int32_t>::max());
         }},
        {"METRIC_STATSD_ENABLED", "false", "Send metrics to statsd.",
         bool_field(RACCOON_FIELD(metric.statsd_enabled))},
        {"METRIC_STATSD_ADDRESS", ":8125", "statsd host:port.",
         string_field(RACCOON_FIELD(metric.statsd_address))},
        {"METRIC_STATSD_FLUSH_PERIOD_MS", "10000", "How often metrics go to statsd.",
         duration_field(RACCOON_FIELD(metric.statsd_flush_period), 1)},
        {"METRIC_PROMETHEUS_ENABLED", "false", "Serve metrics for Prometheus.",
         bool_field(RACCOON_FIELD(metric.prometheus_enabled))},
        {"METRIC_PROMETHEUS_PORT", "9090", "Port of the Prometheus endpoint.",
         integer_field(RACCOON_FIELD(metric.prometheus_port), 1, 65535)},
        {"METRIC_PROMETHEUS_PATH", "/metrics", "Path of the Prometheus endpoint.",
         [](settings& s, const std::string& key, const std::string& value) {
             if (!value.starts_with('/'))
                 throw invalid_setting(key, value, "a path starting with /");
             s.metric.prometheus_path = value;
         }},
        {"METRIC_EVENT_TYPE_LIMIT", "100",
         "Distinct event types the metrics tell apart; later ones are reported as \"other\".",
         integer_field(RACCOON_FIELD(metric.event_type_limit), 1, 100000)},
        {"METRIC_CONN_GROUP_LIMIT", "100",
         "Distinct connection groups the metrics tell apart; later ones are reported as "
         "\"other\".",
         integer_field(RACCOON_FIELD(metric.conn_group_limit), 1, 100000)},
        {"LOG_LEVEL", "info", "trace, debug, info, warn, error or off.",
         [](settings& s, const std::string& key, const std::string& value) {
             static const std::vector<std::string> levels = {"trace", "debug", "info",
                                                             "warn",  "error", "off"};
             std::string lower = value;
             std::ranges::transform(lower, lower.begin(),
                                    [](unsigned char c) { return std::tolower(c); });
             if (lower == "warning") lower = "warn";
             if (lower == "fatal" || lower == "panic") lower = "error";
             if (std::ranges::find(levels, lower) == levels.end()) {
                 throw invalid_setting(key, value, "trace, debug, info, warn, error or off");
             }
             s.log_level = lower;
         }},
        {"LOG_FORMAT", "text", "text, or json: one JSON object per line for log shippers.",
         [](settings& s, const std::string& key, const std::string& value) {
             if (value == "text") {
                 s.log_format = log_encoding::text;
             } else if (value == "json") {
                 s.log_format = log_encoding::json;
             } else {
                 throw invalid_setting(key, value, "text or json");
             }
         }},
        {"LOG_REQUEST_ERRORS_PER_SECOND", "10",
         "Log lines about bad requests per second, beyond which they are counted and summed "
         "up; 0 logs every one.",
         integer_field(RACCOON_FIELD(log_request_errors_per_second), 0, 1000000)},
    };
    return table;
}

#undef RACCOON_FIELD

const descriptor* find_descriptor(std::string_view key) {
    for (const auto& d : descriptors()) {
        if (d.key == key) return &d;
    }
    return nullptr;
}

bool is_kafka_client_key(std::string_view key) {
    return key.starts_with(kafka_client_prefix) && key.size() > kafka_client_prefix.size();
}

bool is_known_key(std::string_view key) {
    return find_descriptor(key) != nullptr || is_kafka_client_key(key);
}

std::string kafka_property_name(std::string_view key) {
    std::string name(key.substr(kafka_client_prefix.size()));
    for (char& c : name) {
        c = (c == '_') ? '.' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return name;
}

using raw_values = std::map<std::string, std::string>;

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

raw_values read_file(const std::string& path) {
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
    for (const auto& [key, value] : values) {
        if (!is_known_key(key)) {
            throw invalid_setting(key, value, "a known setting (in " + path + "); see --help");
        }
    }
    return values;
}

struct parsed_args {
    std::string config_file;
    raw_values flags;
};

parsed_args parse_args(const std::vector<std::string>& args) {
    parsed_args parsed;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (!arg.starts_with("--")) {
            throw invalid_setting(arg, "", "a flag of the form --name=value or --name value");
        }
        std::string name = arg.substr(2);
        std::string value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            throw invalid_setting(arg, "", "a value after the flag");
        }
        if (name == "config") {
            parsed.config_file = value;
            continue;
        }
        std::string key = canonical_key(name);
        if (!is_known_key(key)) {
            throw invalid_setting("--" + name, value, "a known setting; see --help");
        }
        parsed.flags[key] = value;
    }
    return parsed;
}

}  // namespace

invalid_setting::invalid_setting(const std::string& key, const std::string& value,
                                 const std::string& allowed)
    : std::runtime_error("invalid setting " + key + "=\"" + value + "\": expected " + allowed),
      key_(key) {}

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

settings load(const std::vector<std::string>& args, const environment& env) {
    parsed_args parsed = parse_args(args);

    raw_values values;
    if (!parsed.config_file.empty()) {
        for (auto& [key, value] : read_file(parsed.config_file)) values[key] = value;
    }
    for (const auto& [key, value] : env) {
        // An empty variable counts as unset, as in viper, which upstream reads it with.
        if (is_known_key(key) && !value.empty()) values[key] = value;
    }
    for (auto& [key, value] : parsed.flags) values[key] = value;
    if (const auto alias = values.find(std::string(linger_alias_key)); alias != values.end()) {
        if (const auto linger = values.find(std::string(linger_key));
            linger != values.end() && linger->second != alias->second) {
            throw invalid_setting(alias->first, alias->second,
                                  "the same librdkafka property as " + linger->first + "=" +
                                      linger->second + "; set one of them");
        }
    }
    for (const auto& d : descriptors()) {
        if (d.key == linger_key && values.contains(std::string(linger_alias_key))) continue;
        values.try_emplace(std::string(d.key), d.default_value);
    }

    settings result;
    for (const auto& [key, value] : values) {
        const descriptor* d = find_descriptor(key);
        if (d != nullptr && d->apply) {
            d->apply(result, key, value);
        } else if (is_kafka_client_key(key) && !value.empty()) {
            result.kafka.client[kafka_property_name(key)] = value;
        }
    }

    if (result.publisher == publisher_type::kafka &&
        !result.kafka.client.contains("bootstrap.servers")) {
        throw invalid_setting("PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS", "",
                              "host:port of at least one broker when PUBLISHER_TYPE=kafka");
    }
    if (result.server.websocket_pong_wait_interval <= result.server.websocket_ping_interval) {
        throw invalid_setting("SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS",
                              std::to_string(result.server.websocket_pong_wait_interval.count()),
                              "more than SERVER_WEBSOCKET_PING_INTERVAL_MS (" +
                                  std::to_string(result.server.websocket_ping_interval.count()) +
                                  ")");
    }
    if (result.server.grpc_port == result.server.websocket_port) {
        throw invalid_setting("SERVER_GRPC_PORT", std::to_string(result.server.grpc_port),
                              "a port other than SERVER_WEBSOCKET_PORT");
    }
    return result;
}

std::string help_text() {
    std::ostringstream out;
    out << "Usage: raccoon server [--config FILE] [--NAME=VALUE ...]\n\n"
           "Every setting is read, in rising precedence, from its default, the YAML file\n"
           "given by --config, the environment variable NAME, and the flag --NAME (also\n"
           "spelled --name.with.dots or --name-with-dashes).\n\n";
    for (const auto& d : descriptors()) {
        out << "  " << d.key << " (default \"" << d.default_value << "\")\n      " << d.meaning
            << "\n";
    }
    return out.str();
}

}  // namespace raccoon::config
