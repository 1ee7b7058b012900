#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <raccoon/config/settings.hpp>
#include <raccoon/publisher/kafka/kafka_settings.hpp>
#include <raccoon/publisher/registry.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace raccoon::config {
namespace {

using ::testing::HasSubstr;

constexpr const char* bootstrap_key = "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS";

// load() with every publisher's settings, as the server loads them.
settings load(const std::vector<std::string>& args, const environment& env) {
    return config::load(args, env, publisher::setting_groups());
}

std::string help_text() { return config::help_text(publisher::setting_groups()); }
std::string sample_yaml() { return config::sample_yaml(publisher::setting_groups()); }
std::string reference_markdown() { return config::reference_markdown(publisher::setting_groups()); }

// The kafka publisher's settings, as it reads them from the loaded ones.
publisher::kafka::kafka_options kafka_options_of(const settings& s) {
    warning_list said_at_load;
    return publisher::kafka::settings_group().read<publisher::kafka::kafka_options>(s.group_values,
                                                                                    said_at_load);
}

// The environment most tests start from: the one setting without a usable
// default for the kafka publisher.
environment kafka_env(environment extra = {}) {
    extra.emplace(bootstrap_key, "127.0.0.1:9092");
    return extra;
}

// A YAML file in the temp directory, removed when the test ends.
class temp_file {
 public:
    explicit temp_file(const std::string& content) {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("raccoon_config_test_" + std::to_string(::getpid()) + "_" +
                 std::to_string(counter++) + ".yaml");
        std::ofstream out(path_, std::ios::binary);
        out << content;
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    ~temp_file() {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }

    std::string path() const { return path_.string(); }

 private:
    std::filesystem::path path_;
};

struct load_failure {
    std::string key;
    std::string message;
};

// What load() refused, or nullopt when it accepted the settings. Any other
// exception than invalid_setting fails the test.
std::optional<load_failure> load_error(const std::vector<std::string>& args,
                                       const environment& env) {
    try {
        load(args, env);
    } catch (const invalid_setting& e) {
        std::string message = e.what();
        EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
        return load_failure{e.key(), message};
    }
    return std::nullopt;
}

// What preparing the publisher the settings name refused, before the server listens.
std::optional<load_failure> prepare_error(const environment& env) {
    const settings s = load({}, env);
    try {
        publisher::find(s.publisher_type).prepare(s);
    } catch (const invalid_setting& e) {
        return load_failure{e.key(), e.what()};
    }
    return std::nullopt;
}

// Every field of the settings as text, so two loads can be compared whole.
std::string describe(const settings& s) {
    std::ostringstream out;
    auto list = [&](const std::vector<std::string>& items) {
        out << "[";
        for (const auto& item : items) out << item << ";";
        out << "]\n";
    };
    out << s.server.bind_address << "\n"
        << s.server.websocket_port << "\n"
        << s.server.grpc_port << "\n"
        << s.server.grpc_max_recv_message_bytes << "\n"
        << s.server.grpc_max_concurrent_streams << "\n"
        << s.server.grpc_keepalive_time.count() << "\n"
        << s.server.grpc_keepalive_timeout.count() << "\n"
        << s.server.io_threads << "\n"
        << s.server.websocket_max_conn << "\n"
        << s.server.websocket_read_buffer_size << "\n"
        << s.server.websocket_write_buffer_size << "\n"
        << s.server.websocket_ping_interval.count() << "\n"
        << s.server.websocket_pong_wait_interval.count() << "\n"
        << s.server.websocket_write_wait_interval.count() << "\n"
        << s.server.websocket_pinger_size << "\n"
        << s.server.websocket_max_queued_acks << "\n"
        << s.server.websocket_check_origin << "\n"
        << s.server.conn_id_header << "\n"
        << s.server.conn_group_header << "\n"
        << s.server.conn_group_default << "\n"
        << s.server.batch_dedup_in_connection << "\n"
        << s.server.max_request_bytes << "\n"
        << s.server.http_idle_timeout.count() << "\n"
        << s.server.shutdown_readiness_delay.count() << "\n"
        << s.server.cors.enabled << "\n";
    list(s.server.cors.allowed_origins);
    list(s.server.cors.allowed_methods);
    list(s.server.cors.allowed_headers);
    out << s.server.cors.allow_credentials << "\n"
        << s.server.cors.preflight_max_age_seconds << "\n"
        << s.worker.pool_size << "\n"
        << s.worker.buffer_channel_size << "\n"
        << s.worker.buffer_flush_timeout.count() << "\n"
        << s.publisher_pattern << "\n"
        << static_cast<int>(s.event_ack) << "\n"
        << s.publisher_type << "\n";
    for (const auto& [name, value] : kafka_options_of(s).client)
        out << name << "=" << value << "\n";
    out << kafka_options_of(s).flush_interval.count() << "\n"
        << s.metric.statsd_enabled << "\n"
        << s.metric.statsd_address << "\n"
        << s.metric.statsd_flush_period.count() << "\n"
        << s.metric.prometheus_enabled << "\n"
        << s.metric.prometheus_port << "\n"
        << s.metric.prometheus_path << "\n"
        << s.metric.event_type_limit << "\n"
        << s.metric.conn_group_limit << "\n"
        << s.log_level << "\n"
        << static_cast<int>(s.log_format) << "\n"
        << s.log_request_errors_per_second << "\n";
    return out.str();
}

// The documented defaults: upstream's names and values, and our own settings.
const std::vector<std::pair<std::string, std::string>>& default_table() {
    static const std::vector<std::pair<std::string, std::string>> table = {
        {"SERVER_WEBSOCKET_PORT", "8080"},
        {"SERVER_BIND_ADDRESS", "0.0.0.0"},
        {"SERVER_IO_THREADS", "0"},
        {"SERVER_MAX_REQUEST_BYTES", "4194304"},
        {"SERVER_MAX_EVENTS_PER_REQUEST", "10000"},
        {"SERVER_MAX_REQ_GUID_BYTES", "1024"},
        {"SERVER_HTTP_IDLE_TIMEOUT_MS", "60000"},
        {"SERVER_SHUTDOWN_READINESS_DELAY_MS", "0"},
        {"SERVER_WEBSOCKET_MAX_CONN", "30000"},
        {"SERVER_WEBSOCKET_READ_BUFFER_SIZE", "10240"},
        {"SERVER_WEBSOCKET_WRITE_BUFFER_SIZE", "10240"},
        {"SERVER_WEBSOCKET_PING_INTERVAL_MS", "30000"},
        {"SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS", "60000"},
        {"SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS", "5000"},
        {"SERVER_WEBSOCKET_PINGER_SIZE", "1"},
        {"SERVER_WEBSOCKET_MAX_QUEUED_ACKS", "1000"},
        {"SERVER_WEBSOCKET_MAX_QUEUED_ACK_BYTES", "1048576"},
        {"SERVER_WEBSOCKET_CHECK_ORIGIN", "true"},
        {"SERVER_WEBSOCKET_CONN_ID_HEADER", "X-User-ID"},
        {"SERVER_WEBSOCKET_CONN_GROUP_HEADER", ""},
        {"SERVER_WEBSOCKET_CONN_GROUP_DEFAULT", "--default--"},
        {"SERVER_WEBSOCKET_SERVER_SHUTDOWN_GRACE_PERIOD_MS", "3000"},
        {"SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED", "false"},
        {"SERVER_GRPC_PORT", "8081"},
        {"SERVER_GRPC_MAX_RECV_MESSAGE_BYTES", "4194304"},
        {"SERVER_GRPC_MAX_CONCURRENT_STREAMS", "100"},
        {"SERVER_GRPC_KEEPALIVE_TIME_MS", "7200000"},
        {"SERVER_GRPC_KEEPALIVE_TIMEOUT_MS", "20000"},
        {"SERVER_CORS_ENABLED", "false"},
        {"SERVER_CORS_ALLOWED_ORIGIN", ""},
        {"SERVER_CORS_ALLOWED_METHODS", "GET,HEAD,POST,OPTIONS"},
        {"SERVER_CORS_ALLOWED_HEADERS", ""},
        {"SERVER_CORS_ALLOW_CREDENTIALS", "false"},
        {"SERVER_CORS_PREFLIGHT_MAX_AGE_SECONDS", "0"},
        {"WORKER_POOL_SIZE", "5"},
        {"WORKER_BUFFER_CHANNEL_SIZE", "100"},
        {"WORKER_BUFFER_MAX_BYTES", "268435456"},
        {"WORKER_BUFFER_FLUSH_TIMEOUT_MS", "5000"},
        {"WORKER_KAFKA_DELIVERY_CHANNEL_SIZE", "10"},
        {"EVENT_DISTRIBUTION_PUBLISHER_PATTERN", "clickstream-%s-log"},
        {"EVENT_TYPE_ALLOWED_PATTERN", ""},
        {"EVENT_DISTRIBUTION_MAX_NEW_TOPICS_PER_MINUTE", "100"},
        {"EVENT_ACK", "0"},
        {"EVENT_ACK_DEADLINE_MS", "10000"},
        {"PUBLISHER_TYPE", "kafka"},
        {"PUBLISHER_KAFKA_FLUSH_INTERVAL_MS", "1000"},
        {"PUBLISHER_KAFKA_DELIVERY_CHANNEL_SIZE", "10"},
        {"PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS", ""},
        {"PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MESSAGES", "100000"},
        {"PUBLISHER_KAFKA_CLIENT_LINGER_MS", "1"},
        {"PUBLISHER_KINESIS_AWS_REGION", ""},
        {"PUBLISHER_KINESIS_CREDENTIALS", ""},
        {"PUBLISHER_KINESIS_STREAM_AUTOCREATE", "false"},
        {"PUBLISHER_KINESIS_STREAM_PROBE_INTERVAL_MS", "1000"},
        {"PUBLISHER_KINESIS_STREAM_MODE", "ON_DEMAND"},
        {"PUBLISHER_KINESIS_STREAM_SHARDS", "4"},
        {"PUBLISHER_KINESIS_PUBLISH_TIMEOUT_MS", "60000"},
        {"PUBLISHER_KINESIS_MAX_OUTSTANDING_MESSAGES", "100000"},
        {"PUBLISHER_KINESIS_MAX_OUTSTANDING_BYTES", "67108864"},
        {"PUBLISHER_KINESIS_CONNECTIONS", "4"},
        {"PUBLISHER_PUBSUB_PROJECT_ID", ""},
        {"PUBLISHER_PUBSUB_CREDENTIALS", ""},
        {"PUBLISHER_PUBSUB_TOPIC_AUTOCREATE", "false"},
        {"PUBLISHER_PUBSUB_TOPIC_RETENTION_MS", "0"},
        {"PUBLISHER_PUBSUB_PUBLISH_TIMEOUT_MS", "60000"},
        {"PUBLISHER_PUBSUB_PUBLISH_DELAY_THRESHOLD_MS", "10"},
        {"PUBLISHER_PUBSUB_PUBLISH_COUNT_THRESHOLD", "100"},
        {"PUBLISHER_PUBSUB_PUBLISH_BYTE_THRESHOLD", "1000000"},
        {"PUBLISHER_PUBSUB_MAX_OUTSTANDING_MESSAGES", "100000"},
        {"PUBLISHER_PUBSUB_MAX_OUTSTANDING_BYTES", "104857600"},
        {"METRIC_RUNTIME_STATS_RECORD_INTERVAL_MS", "10000"},
        {"METRIC_STATSD_ENABLED", "false"},
        {"METRIC_STATSD_ADDRESS", ":8125"},
        {"METRIC_STATSD_FLUSH_PERIOD_MS", "10000"},
        {"METRIC_PROMETHEUS_ENABLED", "false"},
        {"METRIC_PROMETHEUS_PORT", "9090"},
        {"METRIC_PROMETHEUS_PATH", "/metrics"},
        {"METRIC_EVENT_TYPE_LIMIT", "100"},
        {"METRIC_CONN_GROUP_LIMIT", "100"},
        {"LOG_LEVEL", "info"},
        {"LOG_FORMAT", "text"},
        {"LOG_REQUEST_ERRORS_PER_SECOND", "10"},
    };
    return table;
}

// ---- defaults ----------------------------------------------------------------

TEST(ConfigDefaults, MatchTheUpstreamTable) {
    settings s = load({}, kafka_env());
    EXPECT_EQ(s.server.websocket_port, 8080);
    EXPECT_EQ(s.server.grpc_port, 8081);
    EXPECT_EQ(s.server.grpc_max_recv_message_bytes, 4u * 1024 * 1024);
    EXPECT_EQ(s.server.grpc_max_concurrent_streams, 100);
    EXPECT_EQ(s.server.grpc_keepalive_time, milliseconds(7200000));
    EXPECT_EQ(s.server.grpc_keepalive_timeout, milliseconds(20000));
    EXPECT_EQ(s.server.bind_address, "0.0.0.0");
    EXPECT_EQ(s.server.io_threads, 0);
    EXPECT_EQ(s.server.websocket_max_conn, 30000);
    EXPECT_EQ(s.server.websocket_read_buffer_size, 10240);
    EXPECT_EQ(s.server.websocket_write_buffer_size, 10240);
    EXPECT_EQ(s.server.websocket_ping_interval, milliseconds(30000));
    EXPECT_EQ(s.server.websocket_pong_wait_interval, milliseconds(60000));
    EXPECT_EQ(s.server.websocket_write_wait_interval, milliseconds(5000));
    EXPECT_EQ(s.server.websocket_pinger_size, 1);
    EXPECT_EQ(s.server.websocket_max_queued_acks, 1000u);
    EXPECT_TRUE(s.server.websocket_check_origin);
    EXPECT_EQ(s.server.conn_id_header, "X-User-ID");
    EXPECT_EQ(s.server.conn_group_header, "");
    EXPECT_EQ(s.server.conn_group_default, "--default--");
    EXPECT_FALSE(s.server.batch_dedup_in_connection);
    EXPECT_EQ(s.server.max_request_bytes, 4u * 1024 * 1024);
    EXPECT_EQ(s.server.http_idle_timeout, milliseconds(60000));
    EXPECT_EQ(s.server.shutdown_readiness_delay, milliseconds(0));
    EXPECT_FALSE(s.server.cors.enabled);
    EXPECT_TRUE(s.server.cors.allowed_origins.empty());
    EXPECT_EQ(s.server.cors.allowed_methods,
              (std::vector<std::string>{"GET", "HEAD", "POST", "OPTIONS"}));
    EXPECT_TRUE(s.server.cors.allowed_headers.empty());
    EXPECT_FALSE(s.server.cors.allow_credentials);
    EXPECT_EQ(s.server.cors.preflight_max_age_seconds, 0);
    EXPECT_EQ(s.worker.pool_size, 5);
    EXPECT_EQ(s.worker.buffer_channel_size, 100u);
    EXPECT_EQ(s.worker.buffer_flush_timeout, milliseconds(5000));
    EXPECT_EQ(s.publisher_pattern, "clickstream-%s-log");
    EXPECT_EQ(s.event_ack, ack_mode::on_accept);
    EXPECT_EQ(s.publisher_type, "kafka");
    EXPECT_EQ(kafka_options_of(s).flush_interval, milliseconds(1000));
    EXPECT_EQ(kafka_options_of(s).client, (std::map<std::string, std::string>{
                                              {"bootstrap.servers", "127.0.0.1:9092"},
                                              // Ours: upstream leaves librdkafka's 5 ms.
                                              {"linger.ms", "1"},
                                              {"queue.buffering.max.messages", "100000"},
                                          }));
    EXPECT_FALSE(s.metric.statsd_enabled);
    EXPECT_EQ(s.metric.statsd_address, ":8125");
    EXPECT_EQ(s.metric.statsd_flush_period, milliseconds(10000));
    EXPECT_FALSE(s.metric.prometheus_enabled);
    EXPECT_EQ(s.metric.prometheus_port, 9090);
    EXPECT_EQ(s.metric.prometheus_path, "/metrics");
    EXPECT_EQ(s.metric.event_type_limit, 100u);
    EXPECT_EQ(s.metric.conn_group_limit, 100u);
    EXPECT_EQ(s.log_level, "info");
    EXPECT_EQ(s.log_format, log_encoding::text);
    EXPECT_EQ(s.log_request_errors_per_second, 10);
}

TEST(ConfigDefaults, EachDefaultIsAValidValueOfItsSetting) {
    const std::string defaults = describe(load({}, kafka_env()));
    for (const auto& [key, value] : default_table()) {
        if (key == bootstrap_key) continue;
        SCOPED_TRACE(key);
        EXPECT_EQ(describe(load({}, kafka_env({{key, value}}))), defaults);
        EXPECT_EQ(describe(load({"--" + key + "=" + value}, kafka_env())), defaults);
    }
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(ConfigDefaults, TheSampleFileHoldsTheDefaults) {
    // Bootstrap servers have no default: the sample leaves them empty.
    settings from_file = load({"--config", RACCOON_SAMPLE_CONFIG}, kafka_env());
    EXPECT_EQ(describe(from_file), describe(load({}, kafka_env())));
    EXPECT_TRUE(from_file.warnings.empty());
}

TEST(ConfigDefaults, TheSampleFileIsWhatTheTableGenerates) {
    EXPECT_EQ(read_text(RACCOON_SAMPLE_CONFIG), sample_yaml())
        << "config/raccoon.yaml is stale: build/src/raccoon config sample > config/raccoon.yaml";
}

TEST(ConfigDefaults, TheConfigurationPageHoldsTheTableTheCodeHas) {
    const std::string page = read_text(RACCOON_CONFIGURATION_PAGE);
    const std::string begin = "<!-- settings table: generated by `raccoon config reference` -->\n";
    const std::string end = "<!-- end of settings table -->";
    const auto from = page.find(begin);
    const auto to = page.find(end);
    ASSERT_NE(from, std::string::npos) << "docs/configuration.md lost its table's markers";
    ASSERT_NE(to, std::string::npos);
    EXPECT_EQ(page.substr(from + begin.size(), to - from - begin.size()), reference_markdown())
        << "docs/configuration.md is stale: make docs";
}

TEST(ConfigDefaults, EveryYamlKeyNamesItsVariable) {
    const std::string reference = reference_markdown();
    std::istringstream rows(reference);
    std::size_t checked = 0;
    for (std::string row; std::getline(rows, row);) {
        // | `VARIABLE` | `yaml.key` | ...
        if (!row.starts_with("| `")) continue;
        const auto key_end = row.find('`', 3);
        const auto yaml_begin = row.find('`', key_end + 1) + 1;
        const auto yaml_end = row.find('`', yaml_begin);
        EXPECT_EQ(canonical_key(row.substr(yaml_begin, yaml_end - yaml_begin)),
                  row.substr(3, key_end - 3));
        ++checked;
    }
    EXPECT_EQ(checked, default_table().size());
}

// ---- precedence ----------------------------------------------------------------

TEST(ConfigPrecedence, NestedYamlOverridesDefaults) {
    temp_file file(
        "server:\n"
        "  websocket:\n"
        "    port: 9000\n"
        "    conn:\n"
        "      group_default: web\n"
        "worker:\n"
        "  pool_size: 7\n"
        "event:\n"
        "  ack: 1\n");
    settings s = load({"--config", file.path()}, kafka_env());
    EXPECT_EQ(s.server.websocket_port, 9000);
    EXPECT_EQ(s.server.conn_group_default, "web");
    EXPECT_EQ(s.worker.pool_size, 7);
    EXPECT_EQ(s.event_ack, ack_mode::on_delivery);
    EXPECT_EQ(s.server.grpc_port, 8081) << "a setting the file leaves alone keeps its default";
}

TEST(ConfigPrecedence, FlatYamlKeysInEitherCase) {
    temp_file file(
        "SERVER_WEBSOCKET_PORT: 9001\n"
        "worker_buffer_channel_size: 250\n"
        "server.grpc.port: 9002\n");
    settings s = load({"--config=" + file.path()}, kafka_env());
    EXPECT_EQ(s.server.websocket_port, 9001);
    EXPECT_EQ(s.worker.buffer_channel_size, 250u);
    EXPECT_EQ(s.server.grpc_port, 9002);
}

TEST(ConfigPrecedence, YamlSequencesBecomeLists) {
    temp_file file(
        "server:\n"
        "  cors:\n"
        "    allowed_methods: [GET, POST]\n"
        "    allowed_origin:\n"
        "      - https://a.example\n"
        "      - https://b.example\n");
    settings s = load({"--config", file.path()}, kafka_env());
    EXPECT_EQ(s.server.cors.allowed_methods, (std::vector<std::string>{"GET", "POST"}));
    EXPECT_EQ(s.server.cors.allowed_origins,
              (std::vector<std::string>{"https://a.example", "https://b.example"}));
}

TEST(ConfigPrecedence, EnvironmentOverridesFile) {
    temp_file file(
        "server:\n"
        "  websocket:\n"
        "    port: 9000\n"
        "worker:\n"
        "  pool_size: 7\n");
    settings s = load({"--config", file.path()}, kafka_env({{"SERVER_WEBSOCKET_PORT", "9100"}}));
    EXPECT_EQ(s.server.websocket_port, 9100);
    EXPECT_EQ(s.worker.pool_size, 7);
}

TEST(ConfigPrecedence, FlagsOverrideEnvironmentAndFileInEverySpelling) {
    temp_file file("server:\n  websocket:\n    port: 9000\n");
    const environment env = kafka_env({{"SERVER_WEBSOCKET_PORT", "9100"}});
    const std::vector<std::pair<std::vector<std::string>, int>> cases = {
        {{"--SERVER_WEBSOCKET_PORT=1"}, 1},    {{"--server.websocket.port", "2"}, 2},
        {{"--server-websocket-port=3"}, 3},    {{"--server.websocket.port=4"}, 4},
        {{"--SERVER_WEBSOCKET_PORT", "5"}, 5},
    };
    for (const auto& [flags, expected] : cases) {
        SCOPED_TRACE(flags.front());
        std::vector<std::string> args = {"--config", file.path()};
        args.insert(args.end(), flags.begin(), flags.end());
        EXPECT_EQ(load(args, env).server.websocket_port, expected);
    }
}

TEST(ConfigPrecedence, TheLastOfRepeatedFlagsWins) {
    settings s = load(
        {"--SERVER_WEBSOCKET_PORT=1", "--server.websocket.port", "2", "--server-websocket-port=3"},
        kafka_env());
    EXPECT_EQ(s.server.websocket_port, 3);
}

TEST(ConfigPrecedence, FlagValueMayContainEquals) {
    settings s =
        load({"--PUBLISHER_KAFKA_CLIENT_SASL_JAAS_CONFIG=user=a password=b=c"}, kafka_env());
    EXPECT_EQ(kafka_options_of(s).client.at("sasl.jaas.config"), "user=a password=b=c");
}

TEST(ConfigPrecedence, UnrelatedEnvironmentIsIgnored) {
    settings s = load({}, kafka_env({{"PATH", "/usr/bin"},
                                     {"HOME", "/root"},
                                     {"server_websocket_port", "1"},
                                     {"SERVER_WEBSOCKET_PORTX", "1"}}));
    EXPECT_EQ(s.server.websocket_port, 8080);
}

TEST(ConfigPrecedence, EmptyEnvironmentVariableCountsAsUnset) {
    // viper, which upstream reads the environment with, ignores empty variables.
    temp_file file("server:\n  websocket:\n    port: 9000\n");
    settings s = load({"--config", file.path()},
                      kafka_env({{"SERVER_WEBSOCKET_PORT", ""}, {"WORKER_POOL_SIZE", ""}}));
    EXPECT_EQ(s.server.websocket_port, 9000);
    EXPECT_EQ(s.worker.pool_size, 5);
}

TEST(ConfigPrecedence, ProcessEnvironmentIsRead) {
    ASSERT_EQ(::setenv("RACCOON_CONFIG_TEST_VARIABLE", "a=b", 1), 0);
    environment env = process_environment();
    ::unsetenv("RACCOON_CONFIG_TEST_VARIABLE");
    ASSERT_TRUE(env.contains("RACCOON_CONFIG_TEST_VARIABLE"));
    EXPECT_EQ(env.at("RACCOON_CONFIG_TEST_VARIABLE"), "a=b");
}

// ---- values ----------------------------------------------------------------

TEST(ConfigValues, KafkaClientSettingsPassThrough) {
    settings s = load({"--publisher.kafka.client.acks=all"},
                      kafka_env({{"PUBLISHER_KAFKA_CLIENT_LINGER_MS", "5"},
                                 {"PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MESSAGES", "42"},
                                 {"PUBLISHER_KAFKA_CLIENT_SASL_MECHANISMS", "PLAIN"}}));
    EXPECT_EQ(kafka_options_of(s).client, (std::map<std::string, std::string>{
                                              {"acks", "all"},
                                              {"bootstrap.servers", "127.0.0.1:9092"},
                                              {"linger.ms", "5"},
                                              {"queue.buffering.max.messages", "42"},
                                              {"sasl.mechanisms", "PLAIN"},
                                          }));
}

TEST(ConfigValues, KafkaClientLingerIsSetLikeAnyOther) {
    EXPECT_EQ(kafka_options_of(load({}, kafka_env({{"PUBLISHER_KAFKA_CLIENT_LINGER_MS", "20"}})))
                  .client.at("linger.ms"),
              "20");
}

TEST(ConfigValues, QueueBufferingMaxMsReplacesTheLingerDefault) {
    // The same librdkafka property under its other name: were our default
    // passed too, whichever librdkafka applied last would win.
    const auto from_env =
        kafka_options_of(
            load({}, kafka_env({{"PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MS", "20"}})))
            .client;
    EXPECT_EQ(from_env.at("queue.buffering.max.ms"), "20");
    EXPECT_FALSE(from_env.contains("linger.ms"));

    temp_file file(
        "publisher:\n"
        "  kafka:\n"
        "    client:\n"
        "      bootstrap_servers: broker-1:9092\n"
        "      queue_buffering_max_ms: 30\n");
    const auto from_file = kafka_options_of(load({"--config", file.path()}, {})).client;
    EXPECT_EQ(from_file.at("queue.buffering.max.ms"), "30");
    EXPECT_FALSE(from_file.contains("linger.ms"));

    const auto from_flag =
        kafka_options_of(load({"--publisher.kafka.client.queue.buffering.max.ms=40"}, kafka_env()))
            .client;
    EXPECT_EQ(from_flag.at("queue.buffering.max.ms"), "40");
    EXPECT_FALSE(from_flag.contains("linger.ms"));
}

TEST(ConfigValues, LingerGivenUnderBothNamesMustAgree) {
    EXPECT_THROW(load({}, kafka_env({{"PUBLISHER_KAFKA_CLIENT_LINGER_MS", "1"},
                                     {"PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MS", "20"}})),
                 invalid_setting);
    const auto agreeing =
        kafka_options_of(
            load({}, kafka_env({{"PUBLISHER_KAFKA_CLIENT_LINGER_MS", "20"},
                                {"PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MS", "20"}})))
            .client;
    EXPECT_EQ(agreeing.at("linger.ms"), "20");
    EXPECT_EQ(agreeing.at("queue.buffering.max.ms"), "20");
}

TEST(ConfigValues, KafkaClientSettingsFromNestedYaml) {
    temp_file file(
        "publisher:\n"
        "  kafka:\n"
        "    client:\n"
        "      bootstrap_servers: broker-1:9092,broker-2:9092\n"
        "      linger_ms: 7\n");
    settings s = load({"--config", file.path()}, {});
    EXPECT_EQ(kafka_options_of(s).client.at("bootstrap.servers"), "broker-1:9092,broker-2:9092");
    EXPECT_EQ(kafka_options_of(s).client.at("linger.ms"), "7");
    s = load({"--config", file.path()}, {{"PUBLISHER_KAFKA_CLIENT_LINGER_MS", "5"}});
    EXPECT_EQ(kafka_options_of(s).client.at("linger.ms"), "5");
}

TEST(ConfigValues, BooleansAcceptTheirUsualSpellings) {
    // Everything Go's strconv.ParseBool takes, as upstream does.
    for (const std::string yes : {"true", "TRUE", "True", "1", "t", "T"}) {
        EXPECT_TRUE(load({}, kafka_env({{"SERVER_CORS_ENABLED", yes}})).server.cors.enabled) << yes;
    }
    for (const std::string no : {"false", "FALSE", "False", "0", "f", "F"}) {
        EXPECT_FALSE(load({}, kafka_env({{"SERVER_WEBSOCKET_CHECK_ORIGIN", no}}))
                         .server.websocket_check_origin)
            << no;
    }
}

TEST(ConfigValues, EnumsAndLevels) {
    settings s =
        load({}, {{"PUBLISHER_TYPE", "LOG"}, {"EVENT_ACK", "1"}, {"LOG_LEVEL", "WARNING"}});
    EXPECT_EQ(s.publisher_type, "log");
    EXPECT_EQ(s.event_ack, ack_mode::on_delivery);
    EXPECT_EQ(s.log_level, "warn");
    EXPECT_EQ(load({}, kafka_env({{"LOG_LEVEL", "fatal"}})).log_level, "error");
    EXPECT_EQ(load({}, kafka_env({{"LOG_LEVEL", "Debug"}})).log_level, "debug");
    EXPECT_EQ(load({}, kafka_env({{"LOG_FORMAT", "json"}})).log_format, log_encoding::json);
}

TEST(ConfigValues, ListsSplitOnCommasAndSpaces) {
    settings s = load({}, kafka_env({{"SERVER_CORS_ALLOWED_HEADERS", "X-A, X-B  X-C,,"}}));
    EXPECT_EQ(s.server.cors.allowed_headers, (std::vector<std::string>{"X-A", "X-B", "X-C"}));
}

TEST(ConfigValues, RangeEdgesAreAccepted) {
    settings s = load({}, kafka_env({{"SERVER_WEBSOCKET_PORT", "65535"},
                                     {"SERVER_GRPC_PORT", "1"},
                                     {"WORKER_BUFFER_CHANNEL_SIZE", "1"},
                                     {"SERVER_WEBSOCKET_PING_INTERVAL_MS", "59999"}}));
    EXPECT_EQ(s.server.websocket_port, 65535);
    EXPECT_EQ(s.server.grpc_port, 1);
    EXPECT_EQ(s.worker.buffer_channel_size, 1u);
    EXPECT_EQ(s.server.websocket_ping_interval, milliseconds(59999));
}

TEST(ConfigValues, IntegersTakeASignAsGoDoes) {
    // Go's strconv.Atoi, which upstream parses integers with, takes "+9000".
    settings s = load({"--SERVER_WEBSOCKET_PORT=+9000"}, kafka_env({{"WORKER_POOL_SIZE", "+3"}}));
    EXPECT_EQ(s.server.websocket_port, 9000);
    EXPECT_EQ(s.worker.pool_size, 3);
    EXPECT_TRUE(load_error({"--SERVER_WEBSOCKET_PORT=+"}, kafka_env()));
    EXPECT_TRUE(load_error({"--SERVER_WEBSOCKET_PORT=++9000"}, kafka_env()));
    EXPECT_TRUE(load_error({"--SERVER_WEBSOCKET_PORT=+-9000"}, kafka_env()));
    EXPECT_TRUE(load_error({"--SERVER_WEBSOCKET_PORT= 9000"}, kafka_env()));
}

TEST(ConfigValues, PatternWithoutPlaceholderIsOneTopic) {
    EXPECT_EQ(load({}, kafka_env({{"EVENT_DISTRIBUTION_PUBLISHER_PATTERN", "all-events"}}))
                  .publisher_pattern,
              "all-events");
}

TEST(ConfigValues, LogPublisherNeedsNoBrokers) {
    EXPECT_FALSE(prepare_error({{"PUBLISHER_TYPE", "log"}}));
    settings s = load({}, {{"PUBLISHER_TYPE", "log"}});
    EXPECT_EQ(s.publisher_type, "log");
    EXPECT_FALSE(kafka_options_of(s).client.contains("bootstrap.servers"));
    EXPECT_EQ(load({"--publisher.type=log"}, {}).publisher_type, "log");
}

// ---- validation ----------------------------------------------------------------

struct bad_value {
    std::string key;
    std::string value;
};

void PrintTo(const bad_value& v, std::ostream* out) { *out << v.key << "=\"" << v.value << "\""; }

class ConfigRejects : public ::testing::TestWithParam<bad_value> {};

TEST_P(ConfigRejects, ValueFromEnvironment) {
    const auto& [key, value] = GetParam();
    auto failure = load_error({}, kafka_env({{key, value}}));
    ASSERT_TRUE(failure) << key << "=" << value << " was accepted";
    EXPECT_EQ(failure->key, key);
    EXPECT_THAT(failure->message, HasSubstr(key));
    EXPECT_THAT(failure->message, HasSubstr("\"" + value + "\""));
}

TEST_P(ConfigRejects, ValueFromFlag) {
    const auto& [key, value] = GetParam();
    auto failure = load_error({"--" + key + "=" + value}, kafka_env());
    ASSERT_TRUE(failure) << key << "=" << value << " was accepted";
    EXPECT_EQ(failure->key, key);
    EXPECT_THAT(failure->message, HasSubstr("\"" + value + "\""));
}

TEST_P(ConfigRejects, ValueFromFile) {
    const auto& [key, value] = GetParam();
    temp_file file(key + ": \"" + value + "\"\n");
    auto failure = load_error({"--config", file.path()}, kafka_env());
    ASSERT_TRUE(failure) << key << "=" << value << " was accepted";
    EXPECT_EQ(failure->key, key);
    EXPECT_THAT(failure->message, HasSubstr("\"" + value + "\""));
}

const std::vector<bad_value> bad_values = {
    {"SERVER_WEBSOCKET_PORT", "0"},
    {"SERVER_WEBSOCKET_PORT", "70000"},
    {"SERVER_WEBSOCKET_PORT", "abc"},
    {"SERVER_WEBSOCKET_PORT", "-1"},
    {"SERVER_WEBSOCKET_PORT", "80x"},
    {"SERVER_WEBSOCKET_PORT", "99999999999999999999999"},
    {"SERVER_GRPC_PORT", "65536"},
    {"METRIC_PROMETHEUS_PORT", "0"},
    {"EVENT_DISTRIBUTION_PUBLISHER_PATTERN", "clickstream-%s-%s"},
    {"WORKER_BUFFER_CHANNEL_SIZE", "lots"},
    {"WORKER_POOL_SIZE", "2.5"},
    {"WORKER_POOL_SIZE", "99999999999999999999999"},
    {"EVENT_ACK", "true"},
    {"SERVER_WEBSOCKET_CHECK_ORIGIN", "maybe"},
    {"SERVER_CORS_ENABLED", "yes please"},
    {"SERVER_WEBSOCKET_PING_INTERVAL_MS", "30s"},
    {"SERVER_WEBSOCKET_CONN_ID_HEADER", "X User"},
    {"LOG_LEVEL", "verbose"},
    {"METRIC_CONN_GROUP_LIMIT", "many"},
    {"LOG_FORMAT", "xml"},
    {"WORKER_KAFKA_DELIVERY_CHANNEL_SIZE", "ten"},
    {"PUBLISHER_PUBSUB_TOPIC_AUTOCREATE", "perhaps"},
};

INSTANTIATE_TEST_SUITE_P(BadValues, ConfigRejects, ::testing::ValuesIn(bad_values),
                         [](const auto& info) {
                             std::string name = info.param.key + "_" + std::to_string(info.index);
                             for (char& c : name) {
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             }
                             return name;
                         });

TEST(ConfigValidation, EmptyPatternFromFlagOrFile) {
    // An empty variable is unset, so only a flag or the file can say "".
    constexpr const char* key = "EVENT_DISTRIBUTION_PUBLISHER_PATTERN";
    auto failure = load_error({"--event.distribution.publisher.pattern="}, kafka_env());
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, key);
    temp_file file("event:\n  distribution:\n    publisher:\n      pattern: \"\"\n");
    failure = load_error({"--config", file.path()}, kafka_env());
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, key);
}

TEST(ConfigValidation, KafkaPublisherNeedsBootstrapServers) {
    auto failure = prepare_error({});
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, bootstrap_key);
    EXPECT_THAT(failure->message, HasSubstr("PUBLISHER_TYPE=kafka"));

    failure = prepare_error({{"PUBLISHER_TYPE", "kafka"}});
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, bootstrap_key);
    EXPECT_FALSE(prepare_error(kafka_env()));
}

TEST(ConfigValidation, AnUnknownPublisherIsRefusedNamingTheOnesThereAre) {
    auto failure = prepare_error({{"PUBLISHER_TYPE", "rabbitmq"}});
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, "PUBLISHER_TYPE");
    EXPECT_THAT(failure->message, HasSubstr("\"rabbitmq\""));
    EXPECT_THAT(failure->message, HasSubstr("kafka"));
    EXPECT_THAT(failure->message, HasSubstr("log"));
}

TEST(ConfigValidation, AnyPingAndPongPairStartsAndAShortWaitIsAWarning) {
    // Upstream's docker-compose file sets both to 10000.
    settings s = load({}, kafka_env({{"SERVER_WEBSOCKET_PING_INTERVAL_MS", "10000"},
                                     {"SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS", "10000"}}));
    EXPECT_EQ(s.server.websocket_ping_interval, milliseconds(10000));
    EXPECT_EQ(s.server.websocket_pong_wait_interval, milliseconds(10000));
    ASSERT_EQ(s.warnings.size(), 1u);
    EXPECT_THAT(s.warnings[0], HasSubstr("SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS (10000)"));
    EXPECT_THAT(s.warnings[0], HasSubstr("SERVER_WEBSOCKET_PING_INTERVAL_MS (10000)"));

    s = load({"--server.websocket.pong.wait.interval.ms=1000"}, kafka_env());
    EXPECT_EQ(s.server.websocket_pong_wait_interval, milliseconds(1000));
    EXPECT_EQ(s.warnings.size(), 1u);

    EXPECT_TRUE(
        load({"--SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS=30001"}, kafka_env()).warnings.empty());
}

struct nearest_value {
    std::string key;
    std::string value;
    std::string used;
};

TEST(ConfigValidation, ValuesUpstreamTakesBeyondOurRangeAreMovedToTheNearestWithAWarning) {
    const std::vector<nearest_value> cases = {
        {"SERVER_GRPC_MAX_RECV_MESSAGE_BYTES", "100", "1024"},
        {"SERVER_GRPC_MAX_RECV_MESSAGE_BYTES", "4294967296", "2147483647"},
        {"SERVER_GRPC_MAX_CONCURRENT_STREAMS", "0", "1"},
        {"SERVER_GRPC_KEEPALIVE_TIME_MS", "10", "1000"},
        {"SERVER_GRPC_KEEPALIVE_TIMEOUT_MS", "0", "1"},
        {"WORKER_BUFFER_CHANNEL_SIZE", "0", "1"},
        {"WORKER_POOL_SIZE", "-3", "1"},
        {"WORKER_POOL_SIZE", "5000", "1024"},
        {"SERVER_WEBSOCKET_PING_INTERVAL_MS", "-5", "1"},
        {"METRIC_RUNTIME_STATS_RECORD_INTERVAL_MS", "0", "1"},
        {"METRIC_EVENT_TYPE_LIMIT", "0", "1"},
        {"LOG_REQUEST_ERRORS_PER_SECOND", "-1", "0"},
    };
    const std::string defaults = describe(load({}, kafka_env()));
    for (const auto& [key, value, used] : cases) {
        SCOPED_TRACE(key + "=" + value);
        settings given = load({}, kafka_env({{key, value}}));
        ASSERT_FALSE(given.warnings.empty());
        EXPECT_THAT(given.warnings[0], HasSubstr(key + "=" + value));
        EXPECT_THAT(given.warnings[0], HasSubstr("using " + used));
        EXPECT_EQ(describe(given), describe(load({}, kafka_env({{key, used}}))));
    }
}

TEST(ConfigValidation, OtherValuesUpstreamTakesStartWithAWarning) {
    settings s = load({}, kafka_env({{"EVENT_ACK", "2"}}));
    EXPECT_EQ(s.event_ack, ack_mode::on_accept);
    ASSERT_EQ(s.warnings.size(), 1u);
    EXPECT_THAT(s.warnings[0], HasSubstr("EVENT_ACK=2"));

    s = load({}, kafka_env({{"METRIC_PROMETHEUS_PATH", "stats"}}));
    EXPECT_EQ(s.metric.prometheus_path, "/stats");
    ASSERT_EQ(s.warnings.size(), 1u);
    EXPECT_THAT(s.warnings[0], HasSubstr("METRIC_PROMETHEUS_PATH=stats"));
}

TEST(ConfigValidation, GrpcAndHttpPortsDiffer) {
    auto failure = load_error({"--SERVER_GRPC_PORT=8080"}, kafka_env());
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, "SERVER_GRPC_PORT");
    EXPECT_THAT(failure->message, HasSubstr("\"8080\""));
}

TEST(ConfigValidation, UnknownFlag) {
    auto failure = load_error({"--server.websocket.prot=9000"}, kafka_env());
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, "--server.websocket.prot");
    EXPECT_THAT(failure->message, HasSubstr("--server.websocket.prot=\"9000\""));

    failure = load_error({"--no-such-setting", "1"}, kafka_env());
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, "--no-such-setting");
    EXPECT_THAT(failure->message, HasSubstr("\"1\""));

    // The bare prefix names no librdkafka property.
    EXPECT_TRUE(load_error({"--PUBLISHER_KAFKA_CLIENT_=x"}, kafka_env()));
}

TEST(ConfigValidation, MalformedArguments) {
    auto failure = load_error({"--server.websocket.port"}, kafka_env());
    ASSERT_TRUE(failure) << "a flag without a value was accepted";
    EXPECT_THAT(failure->message, HasSubstr("--server.websocket.port"));

    failure = load_error({"9000"}, kafka_env());
    ASSERT_TRUE(failure) << "a positional argument was accepted";
    EXPECT_THAT(failure->message, HasSubstr("9000"));

    failure = load_error({"-c"}, kafka_env());
    ASSERT_TRUE(failure) << "-c without a file was accepted";
    EXPECT_THAT(failure->message, HasSubstr("-c"));
}

TEST(ConfigValidation, UnknownKeyInFileIsAWarningNamingTheNearestKey) {
    temp_file file(
        "server:\n"
        "  websocket:\n"
        "    prot: 9000\n"
        "    pong_wait_interval: 10\n"
        "zzz: 1\n");
    settings s = load({"--config", file.path()}, kafka_env());
    EXPECT_EQ(s.server.websocket_port, 8080);
    EXPECT_EQ(s.server.websocket_pong_wait_interval, milliseconds(60000));
    ASSERT_EQ(s.warnings.size(), 3u);
    EXPECT_THAT(
        s.warnings[0],
        HasSubstr("unknown setting SERVER_WEBSOCKET_PONG_WAIT_INTERVAL (in " + file.path() + ")"));
    EXPECT_THAT(s.warnings[0], HasSubstr("did you mean SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS?"));
    EXPECT_THAT(s.warnings[1], HasSubstr("unknown setting SERVER_WEBSOCKET_PROT"));
    EXPECT_THAT(s.warnings[1], HasSubstr("did you mean SERVER_WEBSOCKET_PORT?"));
    EXPECT_THAT(s.warnings[2], HasSubstr("unknown setting ZZZ"));
    EXPECT_THAT(s.warnings[2], ::testing::Not(HasSubstr("did you mean")));
}

TEST(ConfigValidation, UnknownVariableOfASettingFamilyIsAWarning) {
    settings s = load({}, kafka_env({{"SERVER_WEBSOCKET_PORTX", "1"}, {"PATH", "/usr/bin"}}));
    ASSERT_EQ(s.warnings.size(), 1u);
    EXPECT_THAT(s.warnings[0], HasSubstr("SERVER_WEBSOCKET_PORTX (in the environment)"));
    EXPECT_THAT(s.warnings[0], HasSubstr("did you mean SERVER_WEBSOCKET_PORT?"));
}

// Every key of upstream's config.sample.yml, its unknown ones included.
TEST(ConfigUpstream, TheSampleConfigOfUpstreamStarts) {
    temp_file file(
        "server:\n"
        "  websocket:\n"
        "    conn:\n"
        "      id_header: \"X-User-ID\"\n"
        "    port: 8080\n"
        "    max_conn: 30000\n"
        "    read_buffer_size: 10240\n"
        "    write_buffer_size: 10240\n"
        "    ping_interval_ms: 30000\n"
        "    pong_wait_interval: 60000\n"
        "    write_wait_interval: 5000\n"
        "    pinger_size: 1\n"
        "  cors:\n"
        "    enabled: true\n"
        "    allowed_origins:\n"
        "      - \"http://localhost:3000\"\n"
        "      - \"http://localhost:8080\"\n"
        "    preflight_max_age_seconds: 60\n"
        "  grpc:\n"
        "    port: 8081\n"
        "\n"
        "worker:\n"
        "  buffer:\n"
        "    channel_size: 5\n"
        "    flush_timeout_ms: 5000\n"
        "  pool_size: 5\n"
        "\n"
        "event:\n"
        "  distribution_publisher_pattern: \"clickstream-%s-log\"\n"
        "\n"
        "publisher:\n"
        "  type: \"kafka\"\n"
        "  kafka:\n"
        "    client:\n"
        "      bootstrap_servers: \"127.0.0.1:9092,127.0.0.1:9099\"\n"
        "      acks: \"1\"\n"
        "      retries: \"2\"\n"
        "      retry_backoff_ms: \"100\"\n"
        "      statistics_interval_ms: \"5000\"\n"
        "      queue_buffering_max_messages: \"100000\"\n"
        "    flush_interval_ms: 1000\n"
        "    delivery_channel_size: 10\n"
        "\n"
        "metric:\n"
        "  runtime_stats_record_interval_ms: 1000\n"
        "  prometheus:\n"
        "    enabled: true\n"
        "  statsd:\n"
        "    enabled: true\n"
        "    address: \":8125\"\n"
        "    flush_period_ms: 1000\n"
        "\n"
        "log:\n"
        "  level: \"info\"\n");
    for (const auto& flag : {std::vector<std::string>{"-c", file.path()},
                             std::vector<std::string>{"-c=" + file.path()},
                             std::vector<std::string>{"-c" + file.path()},
                             std::vector<std::string>{"--config", file.path()}}) {
        SCOPED_TRACE(flag.front());
        settings s = load(flag, {});
        EXPECT_EQ(s.server.conn_id_header, "X-User-ID");
        EXPECT_EQ(s.server.websocket_port, 8080);
        EXPECT_EQ(s.server.websocket_ping_interval, milliseconds(30000));
        EXPECT_EQ(s.server.websocket_pong_wait_interval, milliseconds(60000));
        EXPECT_EQ(s.server.websocket_write_wait_interval, milliseconds(5000));
        EXPECT_TRUE(s.server.cors.enabled);
        EXPECT_TRUE(s.server.cors.allowed_origins.empty()) << "upstream ignores allowed_origins";
        EXPECT_EQ(s.server.cors.preflight_max_age_seconds, 60);
        EXPECT_EQ(s.worker.buffer_channel_size, 5u);
        EXPECT_EQ(s.worker.pool_size, 5);
        EXPECT_EQ(kafka_options_of(s).client,
                  (std::map<std::string, std::string>{
                      {"acks", "1"},
                      {"bootstrap.servers", "127.0.0.1:9092,127.0.0.1:9099"},
                      {"linger.ms", "1"},
                      {"queue.buffering.max.messages", "100000"},
                      {"retries", "2"},
                      {"retry.backoff.ms", "100"},
                      {"statistics.interval.ms", "5000"},
                  }));
        EXPECT_EQ(kafka_options_of(s).flush_interval, milliseconds(1000));
        EXPECT_TRUE(s.metric.prometheus_enabled);
        EXPECT_TRUE(s.metric.statsd_enabled);
        EXPECT_EQ(s.metric.statsd_flush_period, milliseconds(1000));
        EXPECT_EQ(s.log_level, "info");
        // The three keys upstream ignores, each named with the key it is near.
        ASSERT_EQ(s.warnings.size(), 3u);
        EXPECT_THAT(s.warnings[0], HasSubstr("SERVER_CORS_ALLOWED_ORIGINS"));
        EXPECT_THAT(s.warnings[0], HasSubstr("did you mean SERVER_CORS_ALLOWED_ORIGIN?"));
        EXPECT_THAT(s.warnings[1], HasSubstr("SERVER_WEBSOCKET_PONG_WAIT_INTERVAL "));
        EXPECT_THAT(s.warnings[1],
                    HasSubstr("did you mean SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS?"));
        EXPECT_THAT(s.warnings[2], HasSubstr("SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL "));
    }
}

TEST(ConfigUpstream, TheComposeEnvironmentOfUpstreamStarts) {
    settings s =
        load({}, {{"SERVER_WEBSOCKET_PORT", "8080"},
                  {"SERVER_WEBSOCKET_CHECK_ORIGIN", "true"},
                  {"SERVER_CORS_ENABLED", "true"},
                  {"SERVER_CORS_ALLOWED_ORIGIN", "http://localhost:3000 http://localhost:8080"},
                  {"SERVER_CORS_ALLOWED_METHODS", "GET HEAD POST OPTIONS"},
                  {"SERVER_CORS_PREFLIGHT_MAX_AGE_SECONDS", "60"},
                  {"SERVER_WEBSOCKET_MAX_CONN", "30000"},
                  {"SERVER_WEBSOCKET_READ_BUFFER_SIZE", "10240"},
                  {"SERVER_WEBSOCKET_WRITE_BUFFER_SIZE", "10240"},
                  {"SERVER_WEBSOCKET_CONN_ID_HEADER", "X-User-ID"},
                  {"SERVER_WEBSOCKET_CONN_GROUP_HEADER", "X-User-Group"},
                  {"SERVER_WEBSOCKET_PING_INTERVAL_MS", "10000"},
                  {"SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS", "10000"},
                  {"SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS", "1000"},
                  {"SERVER_WEBSOCKET_PINGER_SIZE", "1"},
                  {"SERVER_GRPC_PORT", "8081"},
                  {"WORKER_BUFFER_CHANNEL_SIZE", "5"},
                  {"WORKER_BUFFER_FLUSH_TIMEOUT_MS", "5000"},
                  {"WORKER_POOL_SIZE", "5"},
                  {"WORKER_KAFKA_DELIVERY_CHANNEL_SIZE", "100"},
                  {"EVENT_DISTRIBUTION_PUBLISHER_PATTERN", "clickstream-%s-log"},
                  {"PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS", "kafka:9092"},
                  {"PUBLISHER_KAFKA_CLIENT_ACKS", "1"},
                  {"PUBLISHER_KAFKA_CLIENT_RETRIES", "2"},
                  {"PUBLISHER_KAFKA_CLIENT_RETRY_BACKOFF_MS", "100"},
                  {"PUBLISHER_KAFKA_CLIENT_STATISTICS_INTERVAL_MS", "5000"},
                  {"PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MESSAGES", "100000"},
                  {"PUBLISHER_KAFKA_FLUSH_INTERVAL_MS", "1000"},
                  {"METRIC_PROMETHEUS_ENABLED", "true"},
                  {"METRIC_STATSD_ADDRESS", "telegraf:8125"},
                  {"METRIC_STATSD_FLUSH_PERIOD_MS", "100"},
                  {"LOG_LEVEL", "info"}});
    EXPECT_EQ(s.server.websocket_pong_wait_interval, milliseconds(10000));
    EXPECT_EQ(s.server.cors.allowed_origins,
              (std::vector<std::string>{"http://localhost:3000", "http://localhost:8080"}));
    EXPECT_EQ(s.server.conn_group_header, "X-User-Group");
    ASSERT_EQ(s.warnings.size(), 1u) << "only the ping/pong pair is worth a word";
    EXPECT_THAT(s.warnings[0], HasSubstr("SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS"));
}

TEST(ConfigUpstream, EveryFlagOfUpstreamIsTaken) {
    // Upstream's flags are its variables lower-cased with _ turned into .
    const std::vector<std::string> flags = {"--publisher.pubsub.project.id=p",
                                            "--publisher.pubsub.credentials=/c.json",
                                            "--publisher.pubsub.topic.autocreate=true",
                                            "--publisher.pubsub.topic.retention.ms=0",
                                            "--publisher.pubsub.publish.delay.threshold.ms=10",
                                            "--publisher.pubsub.publish.count.threshold=100",
                                            "--publisher.pubsub.publish.byte.threshold=1000000",
                                            "--publisher.pubsub.publish.timeout.ms=60000",
                                            "--publisher.kinesis.aws.region=eu-west-1",
                                            "--publisher.kinesis.credentials=/c",
                                            "--publisher.kinesis.stream.autocreate=false",
                                            "--publisher.kinesis.stream.mode=PROVISIONED",
                                            "--publisher.kinesis.stream.shards=4",
                                            "--publisher.kinesis.stream.probe.interval.ms=1000",
                                            "--publisher.kinesis.publish.timeout.ms=60000",
                                            "--worker.kafka.delivery.channel.size=10",
                                            "--metric.runtime.stats.record.interval.ms=1000",
                                            "--publisher.kafka.client.acks=1",
                                            "--event.ack=1"};
    settings s = load(flags, kafka_env());
    EXPECT_EQ(s.event_ack, ack_mode::on_delivery);
    EXPECT_EQ(kafka_options_of(s).client.at("acks"), "1");
    EXPECT_TRUE(s.warnings.empty());
}

TEST(ConfigUpstream, ABooleanFlagAloneMeansTrue) {
    settings s =
        load({"--server.cors.enabled", "--metric.prometheus.enabled", "false"}, kafka_env());
    EXPECT_TRUE(s.server.cors.enabled);
    EXPECT_FALSE(s.metric.prometheus_enabled);
    s = load({"--server.cors.enabled", "--server.websocket.port", "9001"}, kafka_env());
    EXPECT_TRUE(s.server.cors.enabled);
    EXPECT_EQ(s.server.websocket_port, 9001);
}

TEST(ConfigValidation, BadValueInFileNamesTheKey) {
    temp_file file("worker:\n  buffer:\n    channel_size: many\n");
    auto failure = load_error({"--config", file.path()}, kafka_env());
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, "WORKER_BUFFER_CHANNEL_SIZE");
    EXPECT_THAT(failure->message, HasSubstr("\"many\""));
}

TEST(ConfigValidation, BadFileValueIsFineWhenTheEnvironmentOverridesIt) {
    temp_file file("worker:\n  buffer:\n    channel_size: many\n");
    settings s = load({"--config", file.path()}, kafka_env({{"WORKER_BUFFER_CHANNEL_SIZE", "10"}}));
    EXPECT_EQ(s.worker.buffer_channel_size, 10u);
}

TEST(ConfigValidation, UnreadableFile) {
    const std::string missing = (std::filesystem::temp_directory_path() /
                                 ("raccoon_config_test_missing_" + std::to_string(::getpid())))
                                    .string();
    auto failure = load_error({"--config", missing}, kafka_env());
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, "--config");
    EXPECT_THAT(failure->message, HasSubstr("\"" + missing + "\""));
}

TEST(ConfigValidation, DirectoryIsNotAConfigFile) {
    const std::string directory = std::filesystem::temp_directory_path().string();
    auto failure = load_error({"--config", directory}, kafka_env());
    ASSERT_TRUE(failure) << "a directory was read as an empty config file";
    EXPECT_EQ(failure->key, "--config");
    EXPECT_THAT(failure->message, HasSubstr("\"" + directory + "\""));
    EXPECT_THAT(failure->message, HasSubstr("directory"));
}

TEST(ConfigValidation, MalformedYaml) {
    temp_file file("server: [unclosed\n");
    auto failure = load_error({"--config", file.path()}, kafka_env());
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->key, "--config");
    EXPECT_THAT(failure->message, HasSubstr(file.path()));
}

TEST(ConfigValidation, YamlOfTheWrongShape) {
    // A list of maps has no string value; it must still fail as a setting.
    temp_file file(
        "server:\n"
        "  cors:\n"
        "    allowed_origin:\n"
        "      - host: a.example\n");
    EXPECT_TRUE(load_error({"--config", file.path()}, kafka_env()));
}

TEST(ConfigValidation, InvalidSettingMessage) {
    invalid_setting e("SERVER_WEBSOCKET_PORT", "abc", "an integer from 1 to 65535");
    EXPECT_EQ(e.key(), "SERVER_WEBSOCKET_PORT");
    EXPECT_STREQ(e.what(),
                 "invalid setting SERVER_WEBSOCKET_PORT=\"abc\": expected an integer from 1 to "
                 "65535");
}

// ---- canonical_key and help ----------------------------------------------------------

TEST(ConfigCanonicalKey, EverySpellingGivesTheVariableName) {
    EXPECT_EQ(canonical_key("server.websocket.port"), "SERVER_WEBSOCKET_PORT");
    EXPECT_EQ(canonical_key("server-websocket-port"), "SERVER_WEBSOCKET_PORT");
    EXPECT_EQ(canonical_key("SERVER_WEBSOCKET_PORT"), "SERVER_WEBSOCKET_PORT");
    EXPECT_EQ(canonical_key("Server.WebSocket-port_X"), "SERVER_WEBSOCKET_PORT_X");
    EXPECT_EQ(canonical_key("publisher.kafka.client.linger.ms"),
              "PUBLISHER_KAFKA_CLIENT_LINGER_MS");
    EXPECT_EQ(canonical_key(""), "");
}

TEST(ConfigHelp, ListsEveryKeyWithItsDefault) {
    const std::string help = help_text();
    for (const auto& [key, value] : default_table()) {
        EXPECT_THAT(help, HasSubstr("  " + key + " (default \"" + value + "\")\n")) << key;
    }
    // And nothing the table does not know.
    std::size_t listed = 0;
    for (std::size_t at = help.find(" (default \""); at != std::string::npos;
         at = help.find(" (default \"", at + 1)) {
        ++listed;
    }
    EXPECT_EQ(listed, default_table().size());
    EXPECT_THAT(help, HasSubstr("--config"));
    EXPECT_THAT(help, HasSubstr("PUBLISHER_KAFKA_CLIENT_"));
}

}  // namespace
}  // namespace raccoon::config
