#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <raccoon/config/setting_table.hpp>
#include <string>
#include <vector>

namespace raccoon::config {

enum class ack_mode {
    // Ack as soon as the batch is accepted into the channel (upstream EVENT_ACK=0).
    on_accept = 0,
    // Ack once every event of the batch is confirmed by the broker (EVENT_ACK=1).
    on_delivery = 1,
};

struct cors_settings {
    bool enabled = false;
    std::vector<std::string> allowed_origins;
    std::vector<std::string> allowed_methods;
    std::vector<std::string> allowed_headers;
    bool allow_credentials = false;
    int preflight_max_age_seconds = 0;
};

struct server_settings {
    std::string bind_address;
    std::uint16_t websocket_port = 8080;
    std::uint16_t grpc_port = 8081;
    std::size_t grpc_max_recv_message_bytes = 4 * 1024 * 1024;
    int grpc_max_concurrent_streams = 100;
    milliseconds grpc_keepalive_time{7200000};
    milliseconds grpc_keepalive_timeout{20000};
    int io_threads = 0;
    int websocket_max_conn = 30000;
    int websocket_read_buffer_size = 10240;
    int websocket_write_buffer_size = 10240;
    milliseconds websocket_ping_interval{30000};
    milliseconds websocket_pong_wait_interval{60000};
    milliseconds websocket_write_wait_interval{5000};
    int websocket_pinger_size = 1;
    std::size_t websocket_max_queued_acks = 1000;
    std::size_t websocket_max_queued_ack_bytes = 1024 * 1024;
    bool websocket_check_origin = true;
    std::string conn_id_header;
    std::string conn_group_header;
    std::string conn_group_default;
    bool batch_dedup_in_connection = false;
    std::size_t max_request_bytes = 4 * 1024 * 1024;
    std::size_t max_events_per_request = 10000;
    std::size_t max_req_guid_bytes = 1024;
    milliseconds http_idle_timeout{60000};
    // On SIGTERM, how long readiness answers 503 while everything is still
    // served, before the drain begins.
    milliseconds shutdown_readiness_delay{0};
    cors_settings cors;
};

struct worker_settings {
    int pool_size = 5;
    std::size_t buffer_channel_size = 100;
    // WORKER_BUFFER_MAX_BYTES: what undelivered batches may hold in memory.
    std::size_t buffer_max_bytes = std::size_t{256} << 20;
    milliseconds buffer_flush_timeout{5000};
};

struct metric_settings {
    bool statsd_enabled = false;
    std::string statsd_address;
    milliseconds statsd_flush_period{10000};
    bool prometheus_enabled = false;
    std::uint16_t prometheus_port = 9090;
    std::string prometheus_path;
    std::size_t event_type_limit = 100;
    std::size_t conn_group_limit = 100;
};

enum class log_encoding { text, json };

struct settings {
    server_settings server;
    worker_settings worker;
    std::string publisher_pattern;
    // ECMAScript; the whole event type must match. Empty allows every type.
    std::string event_type_allowed_pattern;
    // 0: no cap.
    std::size_t max_new_topics_per_minute = 100;
    ack_mode event_ack = ack_mode::on_accept;
    milliseconds ack_deadline{10000};
    // PUBLISHER_TYPE, lower-cased: the publisher's name.
    std::string publisher_type;
    // The settings the setting groups own (the publishers'), as given; each
    // group reads its own from them.
    given_values group_values;
    metric_settings metric;
    std::string log_level;
    log_encoding log_format = log_encoding::text;
    int log_request_errors_per_second = 10;
    warning_list warnings;
};

// The process environment as key/value pairs, so tests can pass their own.
using environment = std::map<std::string, std::string>;

environment process_environment();

// Loads the settings, and those of `groups`, from, in rising precedence, the
// built-in defaults, the file named by --config, the environment and the
// command-line flags, then validates them. Throws invalid_setting for the
// first bad value.
settings load(const std::vector<std::string>& args, const environment& env,
              const std::vector<const setting_group*>& groups = {});

// Every setting, the groups' after the others, with its flag spelling,
// default and meaning.
std::string help_text(const std::vector<const setting_group*>& groups = {});

// docs/configuration.md's table of every setting: variable, YAML key, flag,
// default, accepted values, meaning and how it differs from upstream.
std::string reference_markdown(const std::vector<const setting_group*>& groups = {});

// config/raccoon.yaml: every setting at its default, nested as upstream's
// config.sample.yml nests them, each with its meaning as a comment.
std::string sample_yaml(const std::vector<const setting_group*>& groups = {});

// Turns a flag, file key or variable spelling into the variable name:
// "server.websocket.port" and "server-websocket-port" become SERVER_WEBSOCKET_PORT.
std::string canonical_key(std::string_view spelling);

}  // namespace raccoon::config
