#pragma once

#include <raccoon/config/settings.hpp>
#include <raccoon/publisher/kind.hpp>
#include <raccoon/publisher/pubsub/pubsub_publisher.hpp>

namespace raccoon::publisher::pubsub {

// PUBLISHER_PUBSUB_*.
const config::setting_group& settings_group();

// The options PUBLISHER_PUBSUB_* and the environment give: the key file falls
// back to GOOGLE_APPLICATION_CREDENTIALS, and PUBSUB_EMULATOR_HOST names an
// emulator, as Google's client libraries read them. Throws
// config::invalid_setting for a missing project.
pubsub_options read_options(const config::given_values& given, config::warning_list& warnings);

// The pubsub publisher, as the registry lists it.
kind publisher_kind();

}  // namespace raccoon::publisher::pubsub
