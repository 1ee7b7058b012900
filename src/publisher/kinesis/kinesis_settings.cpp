#include <raccoon/publisher/kinesis/kinesis_publisher.hpp>
#include <raccoon/publisher/kinesis/kinesis_settings.hpp>
#include <string>

namespace raccoon::publisher::kinesis {
namespace {

struct kinesis_settings {
    std::string region;
    std::string credentials_file;
    kinesis_options options;
};

config::setting_group make_group() {
    using s = kinesis_settings;
    return config::setting_group(std::vector<config::descriptor<s>>{
        {"PUBLISHER_KINESIS_AWS_REGION", "publisher.kinesis.aws_region", "",
         "AWS region of the Kinesis streams; empty: AWS_REGION, else AWS_DEFAULT_REGION.", "",
         config::string_field<s>([](s & k) -> auto& { return k.region; })},
        {"PUBLISHER_KINESIS_CREDENTIALS", "publisher.kinesis.credentials", "",
         "AWS shared-credentials file (its profile AWS_PROFILE, else default). "
         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN) come "
         "first; empty: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials. "
         "AWS_ENDPOINT_URL_KINESIS or AWS_ENDPOINT_URL points at another endpoint.",
         "", config::string_field<s>([](s & k) -> auto& { return k.credentials_file; })},
        {"PUBLISHER_KINESIS_STREAM_AUTOCREATE", "publisher.kinesis.stream_autocreate", "false",
         "Create a missing stream (PUBLISHER_KINESIS_STREAM_MODE) and publish to it once "
         "it is ACTIVE; false: a missing stream fails its events.",
         "", config::bool_field<s>([](s & k) -> auto& { return k.options.stream_autocreate; })},
        {"PUBLISHER_KINESIS_STREAM_PROBE_INTERVAL_MS", "publisher.kinesis.stream_probe_interval_ms",
         "1000",
         "How often a stream being created is asked whether it is ACTIVE, and a missing "
         "one whether it exists now.",
         "",
         config::duration_field<s>(
             [](s & k) -> auto& { return k.options.stream_probe_interval; }, 1)},
        {"PUBLISHER_KINESIS_STREAM_MODE", "publisher.kinesis.stream_mode", "ON_DEMAND",
         "Capacity mode of a stream it creates: ON_DEMAND or PROVISIONED.", "",
         config::choice_field<s>(
             [](s & k) -> auto& { return k.options.mode; },
             std::vector<std::pair<std::string, stream_mode>>{
                 {"on_demand", stream_mode::on_demand}, {"provisioned", stream_mode::provisioned}},
             "ON_DEMAND or PROVISIONED")},
        {"PUBLISHER_KINESIS_STREAM_SHARDS", "publisher.kinesis.stream_shards", "4",
         "Shards of a PROVISIONED stream it creates.", "",
         config::integer_field<s>(
             [](s & k) -> auto& { return k.options.stream_shards; }, 1, 100000)},
        {"PUBLISHER_KINESIS_PUBLISH_TIMEOUT_MS", "publisher.kinesis.publish_timeout_ms", "60000",
         "How long an event may wait for Kinesis, retries included, before it fails in "
         "its batch's ack; also how long a shutdown waits for what is outstanding.",
         "Upstream bounds one batch's PutRecord calls by it; here each event.",
         config::duration_field<s>(
             [](s & k) -> auto& { return k.options.publish_timeout; }, 1)},
        {"PUBLISHER_KINESIS_MAX_OUTSTANDING_MESSAGES", "publisher.kinesis.max_outstanding_messages",
         "100000",
         "Events handed to the publisher and not yet delivered or failed, beyond which "
         "the workers wait.",
         "Ours; upstream has no bound.",
         config::integer_field<s>(
             [](s & k) -> auto& { return k.options.max_outstanding_messages; }, 1, 100000000)},
        {"PUBLISHER_KINESIS_MAX_OUTSTANDING_BYTES", "publisher.kinesis.max_outstanding_bytes",
         "67108864", "Bytes of those events, beyond which the workers wait.",
         "Ours; upstream has no bound.",
         config::integer_field<s>(
             [](s & k) -> auto& { return k.options.max_outstanding_bytes; }, 1048576,
             std::int64_t{1} << 40)},
        {"PUBLISHER_KINESIS_CONNECTIONS", "publisher.kinesis.connections", "4",
         "PutRecords calls at once, one connection each.",
         "Ours; upstream makes one PutRecord call per event.",
         config::integer_field<s>(
             [](s & k) -> auto& { return k.options.connections; }, 1, 64)},
    });
}

}  // namespace

const config::setting_group& settings_group() {
    static const config::setting_group group = make_group();
    return group;
}

kind publisher_kind() {
    return {"kinesis", &settings_group(), topic_naming(),
            [](const config::settings& settings) -> builder {
                auto read = settings_group().read<kinesis_settings>(settings.group_values);
                const environment env = process_environment();
                connection_factory connect;
                try {
                    connect = aws_connections(read.region, read.credentials_file, env);
                } catch (const aws_config_error& e) {
                    throw config::invalid_setting(e.key(), e.value(), e.allowed());
                }
                return [options = read.options, connect = std::move(connect)] {
                    return std::make_unique<kinesis_publisher>(options, connect);
                };
            }};
}

}  // namespace raccoon::publisher::kinesis
