#pragma once

#include <cstdint>
#include <memory>
#include <raccoon/config/settings.hpp>
#include <raccoon/core/ingestor.hpp>
#include <raccoon/core/readiness.hpp>

namespace raccoon::server::http {

class io_pool;

// The HTTP listener on SERVER_WEBSOCKET_PORT: POST /api/v1/events (protobuf
// or JSON), GET /ping (liveness), GET /ready (readiness), CORS. Beast stays behind this header.
class http_server {
 public:
    // Listens on the pool's first loop and spreads connections over all of them.
    http_server(io_pool& loops, const config::server_settings& settings, core::ingestor& ingestor,
                const core::readiness& readiness);
    ~http_server();

    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Binds and starts accepting; throws std::system_error when it cannot bind.
    void start();

    // The bound port: the configured one, or the one picked for port 0.
    std::uint16_t port() const;

    // Stops accepting, closes idle connections and lets each connection with
    // a request in progress answer it and close. Returns at once.
    void shutdown();

    std::size_t open_connections() const;

 private:
    struct state;
    std::shared_ptr<state> state_;
};

}  // namespace raccoon::server::http
