#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <raccoon/codec/codec.hpp>
#include <raccoon/config/settings.hpp>
#include <raccoon/core/ingestor.hpp>
#include <raccoon/core/readiness.hpp>
#include <unordered_map>

#include "connection_table.hpp"
#include "cors.hpp"
#include "loop_executor.hpp"
#include "pinger.hpp"

namespace raccoon::server::http {

// A connection's socket and stream are bound to its own loop of the io_pool,
// which one thread runs: the loop's executor, not a strand.
using connection_executor = loop_executor;
using connection_socket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, connection_executor>;
using connection_stream = boost::beast::basic_stream<boost::asio::ip::tcp, connection_executor>;

// An open connection, REST or WebSocket, as a shutdown sees it.
class connection {
 public:
    virtual ~connection() = default;
    // Ends the connection gracefully; called from any thread.
    virtual void shutdown() = 0;
};

// What every connection of one listener shares.
struct server_context {
    server_context(const config::server_settings& s, core::ingestor& i, const core::readiness& r,
                   std::shared_ptr<pinger> wheel)
        : settings(s),
          ingestor(i),
          readiness(r),
          cors(s),
          websockets(static_cast<std::size_t>(s.websocket_max_conn)),
          ping_wheel(std::move(wheel)) {}

    const config::server_settings settings;
    core::ingestor& ingestor;
    const core::readiness& readiness;
    const cors_policy cors;
    std::atomic<bool> draining{false};
    connection_table websockets;
    const std::shared_ptr<pinger> ping_wheel;

    codec::request_limits request_limits() const noexcept {
        return {.max_events = settings.max_events_per_request,
                .max_req_guid_bytes = settings.max_req_guid_bytes};
    }

    // Open connections, so a shutdown can reach each of them.
    std::mutex connections_mutex;
    std::unordered_map<const connection*, std::weak_ptr<connection>> connections;

    void add_connection(const std::shared_ptr<connection>& c) {
        std::lock_guard lock(connections_mutex);
        connections.emplace(c.get(), c);
    }

    void remove_connection(const connection* c) {
        std::lock_guard lock(connections_mutex);
        connections.erase(c);
    }

    // Takes from WORKER_BUFFER_MAX_BYTES the most `b` can cost once a body of
    // `body_bytes` is decoded into it, as core::ingestor::reserve does: a
    // request waiting for room holds its body, not its decoded events.
    bool reserve(core::batch& b, std::size_t body_bytes,
                 core::batch_channel::room_callback on_room) {
        return ingestor.reserve(b, codec::decoded_memory_bound(b, body_bytes, request_limits()),
                                std::move(on_room));
    }

    // Offers a batch, from the connection's loop `loop`. The workers are woken
    // once per round of the loop (by a handler posted behind the ones already
    // ready), not once per batch: a busy loop's batches share a wake-up.
    core::ingestor::outcome submit(std::unique_ptr<core::batch>& b,
                                   core::batch_channel::room_callback on_room,
                                   const connection_executor& loop);
};

}  // namespace raccoon::server::http
