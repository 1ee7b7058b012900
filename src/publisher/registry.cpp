#include <raccoon/publisher/kafka/kafka_settings.hpp>
#include <raccoon/publisher/kinesis/kinesis_settings.hpp>
#include <raccoon/publisher/log/log_publisher.hpp>
#include <raccoon/publisher/pubsub/pubsub_settings.hpp>
#include <raccoon/publisher/registry.hpp>
#include <string>

namespace raccoon::publisher {

const std::vector<kind>& kinds() {
    static const std::vector<kind> all = {
        kafka::publisher_kind(),
        kinesis::publisher_kind(),
        log::publisher_kind(),
        pubsub::publisher_kind(),
    };
    return all;
}

const kind& find(std::string_view name) {
    std::string names;
    for (const auto& k : kinds()) {
        if (k.name == name) return k;
        names += (names.empty() ? "" : ", ") + std::string(k.name);
    }
    throw config::invalid_setting("PUBLISHER_TYPE", std::string(name), "one of " + names);
}

std::vector<const config::setting_group*> setting_groups() {
    std::vector<const config::setting_group*> groups;
    for (const auto& k : kinds()) {
        if (k.settings != nullptr) groups.push_back(k.settings);
    }
    return groups;
}

}  // namespace raccoon::publisher
