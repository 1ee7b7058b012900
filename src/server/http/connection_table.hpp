#pragma once

#include <cstddef>
#include <mutex>
#include <raccoon/core/batch.hpp>
#include <string>
#include <unordered_set>

namespace raccoon::server::http {

// The live WebSocket connections by (id, group): one per user and group, and
// at most SERVER_WEBSOCKET_MAX_CONN in all. A connection without an id (a
// browser's WebSocket cannot send the header) is its own user.
class connection_table {
 public:
    enum class admission { admitted, duplicate, full };

    explicit connection_table(std::size_t max_connections) : max_connections_(max_connections) {}

    // Admits `identity` unless it is already connected or the table is full.
    admission admit(const core::connection_identity& identity);

    // Frees `identity` at once, for the next connection with it.
    void release(const core::connection_identity& identity);

    std::size_t size() const;

 private:
    static std::string key_of(const core::connection_identity& identity);

    const std::size_t max_connections_;
    mutable std::mutex mutex_;
    std::unordered_set<std::string> live_;
    std::size_t anonymous_ = 0;
};

}  // namespace raccoon::server::http
