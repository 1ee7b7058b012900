#include <cctype>
#include <raccoon/publisher/kafka/kafka_publisher.hpp>
#include <raccoon/publisher/kafka/kafka_settings.hpp>

namespace raccoon::publisher::kafka {
namespace {

constexpr std::string_view client_prefix = "PUBLISHER_KAFKA_CLIENT_";
// librdkafka's linger.ms and queue.buffering.max.ms are one property: our
// default for the first must not override a value given for the second.
constexpr std::string_view linger_key = "PUBLISHER_KAFKA_CLIENT_LINGER_MS";
constexpr std::string_view linger_alias_key = "PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MS";

std::string property_name(std::string_view key) {
    std::string name(key.substr(client_prefix.size()));
    for (char& c : name) {
        c = (c == '_') ? '.' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return name;
}

void keep_one_linger(kafka_options& options, const config::given_values& given) {
    const auto alias = given.find(std::string(linger_alias_key));
    if (alias == given.end()) return;
    const auto linger = given.find(std::string(linger_key));
    if (linger == given.end()) {
        options.client.erase(property_name(linger_key));
    } else if (linger->second != alias->second) {
        throw config::invalid_setting(alias->first, alias->second,
                                      "the same librdkafka property as " + linger->first + "=" +
                                          linger->second + "; set one of them");
    }
}

config::setting_group make_group() {
    using config::descriptor;
    return config::setting_group(config::setting_group::options<kafka_options>{
        .rows =
            {
                {"PUBLISHER_KAFKA_FLUSH_INTERVAL_MS", "publisher.kafka.flush_interval_ms", "1000",
                 "On shutdown, how long the publisher may take to deliver what it holds.", "",
                 config::duration_field<kafka_options>(
                     [](kafka_options & o) -> auto& { return o.flush_interval; }, 0)},
                {"PUBLISHER_KAFKA_DELIVERY_CHANNEL_SIZE", "publisher.kafka.delivery_channel_size",
                 "10",
                 "Accepted as upstream's; each delivery report here completes its batch "
                 "directly.",
                 "Read, not used.", config::accepted_integer<kafka_options>()},
                {"PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS",
                 "publisher.kafka.client.bootstrap_servers",
                 "",
                 "Kafka brokers, host:port separated by commas. Every PUBLISHER_KAFKA_CLIENT_* "
                 "setting is passed to librdkafka with _ turned into .",
                 "",
                 {nullptr, "host:port, separated by commas"}},
                {"PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MESSAGES",
                 "publisher.kafka.client.queue_buffering_max_messages",
                 "100000",
                 "Messages librdkafka holds before produce waits.",
                 "",
                 {nullptr, "a librdkafka value"}},
                {linger_key,
                 "publisher.kafka.client.linger_ms",
                 "1",
                 "How long librdkafka gathers a partition's messages before sending them "
                 "(librdkafka's own default is 5): with EVENT_ACK=1 every ack waits for it. "
                 "PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MS is the same property and, when "
                 "set, replaces this default.",
                 "Upstream leaves librdkafka's 5 ms.",
                 {nullptr, "a librdkafka value"}},
            },
        .prefix = client_prefix,
        .pass_through = [](kafka_options& o, const std::string& key,
                           const std::string& value) { o.client[property_name(key)] = value; },
        .finish = keep_one_linger,
    });
}

}  // namespace

const config::setting_group& settings_group() {
    static const config::setting_group group = make_group();
    return group;
}

kind publisher_kind() {
    return {"kafka", &settings_group(), topic_naming(), [](const config::settings& s) -> builder {
                auto options = settings_group().read<kafka_options>(s.group_values);
                if (!options.client.contains("bootstrap.servers")) {
                    throw config::invalid_setting(
                        "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS", "",
                        "host:port of at least one broker when PUBLISHER_TYPE=kafka");
                }
                return [options = std::move(options)] {
                    return std::make_unique<kafka_publisher>(options.client,
                                                             options.flush_interval);
                };
            }};
}

}  // namespace raccoon::publisher::kafka
