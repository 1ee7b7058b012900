#pragma once

#include <chrono>
#include <map>
#include <raccoon/config/settings.hpp>
#include <raccoon/publisher/kind.hpp>
#include <string>

namespace raccoon::publisher::kafka {

struct kafka_options {
    // librdkafka properties, from PUBLISHER_KAFKA_CLIENT_* with `_` turned into `.`.
    std::map<std::string, std::string> client;
    std::chrono::milliseconds flush_interval{1000};
};

// PUBLISHER_KAFKA_*.
const config::setting_group& settings_group();

// The kafka publisher, as the registry lists it.
kind publisher_kind();

}  // namespace raccoon::publisher::kafka
