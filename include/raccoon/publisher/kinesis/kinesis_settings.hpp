#pragma once

#include <raccoon/config/settings.hpp>
#include <raccoon/publisher/kind.hpp>

namespace raccoon::publisher::kinesis {

// PUBLISHER_KINESIS_*.
const config::setting_group& settings_group();

// The kinesis publisher, as the registry lists it.
kind publisher_kind();

}  // namespace raccoon::publisher::kinesis
