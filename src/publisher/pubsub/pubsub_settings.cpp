#include <cstdlib>
#include <raccoon/publisher/pubsub/pubsub_settings.hpp>
#include <raccoon/publisher/pubsub/service_account.hpp>
#include <stdexcept>
#include <string>

namespace raccoon::publisher::pubsub {
namespace {

std::string environment(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

config::setting_group make_group() {
    using options = pubsub_options;
    return config::setting_group(std::vector<config::descriptor<options>>{
        {"PUBLISHER_PUBSUB_PROJECT_ID", "publisher.pubsub.project_id", "",
         "Google Cloud project of the Pub/Sub topics; required with "
         "PUBLISHER_TYPE=pubsub.",
         "", config::string_field<options>([](options & o) -> auto& { return o.project_id; })},
        {"PUBLISHER_PUBSUB_CREDENTIALS", "publisher.pubsub.credentials", "",
         "A service account's JSON key file. Empty: GOOGLE_APPLICATION_CREDENTIALS, "
         "else Google's application default credentials (the metadata server on GCE "
         "and GKE). Not read when PUBSUB_EMULATOR_HOST names an emulator, which gets "
         "plaintext gRPC and no credentials.",
         "",
         config::string_field<options>([](options & o) -> auto& { return o.credentials_file; })},
        {"PUBLISHER_PUBSUB_TOPIC_AUTOCREATE", "publisher.pubsub.topic_autocreate", "false",
         "Create a topic that does not exist on its first event; when false, that "
         "topic's events fail (pubsub_unknown_topic_failure_total).",
         "", config::bool_field<options>([](options & o) -> auto& { return o.topic_autocreate; })},
        {"PUBLISHER_PUBSUB_TOPIC_RETENTION_MS", "publisher.pubsub.topic_retention_ms", "0",
         "Message retention of a topic the publisher creates; 0 leaves Pub/Sub's default.", "",
         config::duration_field<options>(
             [](options & o) -> auto& { return o.topic_retention; }, 0)},
        {"PUBLISHER_PUBSUB_PUBLISH_TIMEOUT_MS", "publisher.pubsub.publish_timeout_ms", "60000",
         "How long one Publish call may take before its events fail; also how long a "
         "shutdown waits for what is in flight.",
         "",
         config::duration_field<options>(
             [](options & o) -> auto& { return o.publish_timeout; }, 1)},
        {"PUBLISHER_PUBSUB_PUBLISH_DELAY_THRESHOLD_MS",
         "publisher.pubsub.publish_delay_threshold_ms", "10",
         "How long a topic's first waiting event waits for others before they are sent.", "",
         config::duration_field<options>(
             [](options & o) -> auto& { return o.delay_threshold; }, 0)},
        {"PUBLISHER_PUBSUB_PUBLISH_COUNT_THRESHOLD", "publisher.pubsub.publish_count_threshold",
         "100", "A topic's waiting events are sent once they are this many.",
         "Above Pub/Sub's 1000 messages a request, 1000.",
         config::integer_field<options>(
             [](options & o) -> auto& { return o.count_threshold; }, 1,
             static_cast<std::int64_t>(pubsub_publisher::max_request_messages))},
        {"PUBLISHER_PUBSUB_PUBLISH_BYTE_THRESHOLD", "publisher.pubsub.publish_byte_threshold",
         "1000000", "A topic's waiting events are sent once their bytes reach this.",
         "Above 9000000 (Pub/Sub takes 10 MB a request, framing included), 9000000.",
         config::integer_field<options>(
             [](options & o) -> auto& { return o.byte_threshold; }, 1,
             static_cast<std::int64_t>(pubsub_publisher::max_request_bytes))},
        {"PUBLISHER_PUBSUB_MAX_OUTSTANDING_MESSAGES", "publisher.pubsub.max_outstanding_messages",
         "100000",
         "Events handed to the publisher and not yet answered by Pub/Sub; at this bound "
         "the workers wait, the channel fills and the transports stop reading.",
         "Ours; upstream's client does not bound them.",
         config::integer_field<options>(
             [](options & o) -> auto& { return o.max_outstanding_messages; }, 1, 1'000'000'000)},
        {"PUBLISHER_PUBSUB_MAX_OUTSTANDING_BYTES", "publisher.pubsub.max_outstanding_bytes",
         "104857600", "The same bound in the events' bytes.",
         "Ours; upstream's client does not bound them.",
         config::integer_field<options>(
             [](options & o) -> auto& { return o.max_outstanding_bytes; }, 1,
             std::int64_t{1} << 40)},
    });
}

}  // namespace

const config::setting_group& settings_group() {
    static const config::setting_group group = make_group();
    return group;
}

pubsub_options read_options(const config::given_values& given, config::warning_list& warnings) {
    auto options = settings_group().read<pubsub_options>(given, warnings);
    if (options.project_id.empty()) {
        throw config::invalid_setting("PUBLISHER_PUBSUB_PROJECT_ID", "",
                                      "a Google Cloud project ID when PUBLISHER_TYPE=pubsub");
    }
    if (options.credentials_file.empty()) {
        options.credentials_file = environment("GOOGLE_APPLICATION_CREDENTIALS");
    }
    options.emulator_host = environment("PUBSUB_EMULATOR_HOST");
    // A key that cannot be used stops the start before the server listens.
    if (options.emulator_host.empty() && !options.credentials_file.empty()) {
        try {
            read_service_account_key(options.credentials_file);
        } catch (const std::runtime_error& e) {
            throw config::invalid_setting(
                "PUBLISHER_PUBSUB_CREDENTIALS", options.credentials_file,
                std::string("a service account's JSON key (") + e.what() + ")");
        }
    }
    return options;
}

kind publisher_kind() {
    return {"pubsub", &settings_group(), topic_naming(), [](const config::settings& s) -> builder {
                config::warning_list said_at_load;
                auto options = read_options(s.group_values, said_at_load);
                return [options = std::move(options)] {
                    return std::make_unique<pubsub_publisher>(options);
                };
            }};
}

}  // namespace raccoon::publisher::pubsub
