#pragma once

#include <raccoon/config/settings.hpp>
#include <raccoon/publisher/kind.hpp>
#include <string_view>
#include <vector>

namespace raccoon::publisher {

// Every publisher this server has, one line each in registry.cpp.
const std::vector<kind>& kinds();

// The publisher PUBLISHER_TYPE names; throws config::invalid_setting naming
// the ones there are for any other name.
const kind& find(std::string_view name);

// Every publisher's own settings, for config::load(), --help and the docs.
std::vector<const config::setting_group*> setting_groups();

}  // namespace raccoon::publisher
