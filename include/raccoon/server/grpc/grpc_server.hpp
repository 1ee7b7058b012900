#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <raccoon/config/settings.hpp>
#include <raccoon/core/ingestor.hpp>

namespace raccoon::server::grpc {

// The gRPC listener on SERVER_GRPC_PORT: raystack.raccoon.v1beta1.EventService
// on the callback API, the standard health service and server reflection.
// gRPC's headers stay behind this header.
class grpc_server {
 public:
    grpc_server(const config::server_settings& settings, core::ingestor& ingestor);
    ~grpc_server();

    grpc_server(const grpc_server&) = delete;
    grpc_server& operator=(const grpc_server&) = delete;

    // Binds and starts serving; throws std::runtime_error when it cannot bind.
    void start();

    // The bound port: the configured one, or the one picked for port 0.
    std::uint16_t port() const;

    // What the health service reports while the server is not draining.
    void set_serving(bool serving);

    // Health turns NOT_SERVING and new calls are answered UNAVAILABLE; calls
    // already in progress go on until their ack. Returns at once.
    void stop_accepting();

    // Calls accepted and not yet answered.
    std::size_t calls_in_flight() const;

    // Stops the server: calls still unanswered at `deadline` are cancelled.
    // Returns once every call has ended.
    void shutdown(std::chrono::steady_clock::time_point deadline);

 private:
    struct state;
    std::shared_ptr<state> state_;
};

}  // namespace raccoon::server::grpc
