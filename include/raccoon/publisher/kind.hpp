#pragma once

#include <functional>
#include <memory>
#include <raccoon/config/settings.hpp>
#include <raccoon/core/topic_policy.hpp>
#include <raccoon/publisher/publisher.hpp>
#include <string_view>

namespace raccoon::publisher {

// Builds the publisher once the server listens.
using builder = std::function<std::unique_ptr<publisher>()>;

// A publisher as app sees it, without naming its class: each publisher's
// folder makes its own, and registry.cpp lists them.
struct kind {
    // What PUBLISHER_TYPE names it by.
    std::string_view name;
    // Its own settings, PUBLISHER_<NAME>_*; nullptr when it has none.
    const config::setting_group* settings = nullptr;
    // What it allows of a topic's name.
    core::topic_naming naming;
    // Reads its settings from the loaded ones, refusing a bad or missing one
    // with config::invalid_setting before the server listens.
    std::function<builder(const config::settings&)> prepare;
};

}  // namespace raccoon::publisher
