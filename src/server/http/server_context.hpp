#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <raccoon/config/settings.hpp>
#include <raccoon/core/ingestor.hpp>
#include <unordered_map>

#include "cors.hpp"

namespace raccoon::server::http {

class http_session;

// What every connection of one listener shares.
struct server_context {
    server_context(const config::server_settings& s, core::ingestor& i)
        : settings(s), ingestor(i), cors(s) {}

    const config::server_settings settings;
    core::ingestor& ingestor;
    const cors_policy cors;
    std::atomic<bool> draining{false};

    // Open connections, so a shutdown can reach each of them.
    std::mutex sessions_mutex;
    std::unordered_map<const http_session*, std::weak_ptr<http_session>> sessions;
};

}  // namespace raccoon::server::http
