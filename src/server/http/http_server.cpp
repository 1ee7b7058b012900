#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <raccoon/server/http/http_server.hpp>
#include <raccoon/server/http/io_pool.hpp>
#include <vector>

#include "http_session.hpp"

namespace raccoon::server::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct http_server::state : std::enable_shared_from_this<http_server::state> {
    state(io_pool& loops, const config::server_settings& settings, core::ingestor& ingestor,
          const core::readiness& readiness)
        : loops(loops),
          acceptor(loops.first()),
          context(std::make_shared<server_context>(
              settings, ingestor, readiness,
              std::make_shared<pinger>(loops.first().get_executor(),
                                       settings.websocket_ping_interval))) {}

    void do_accept() {
        acceptor.async_accept(
            connection_executor(loops.next().get_executor()),
            [self = shared_from_this()](boost::system::error_code error, connection_socket socket) {
                if (error == net::error::operation_aborted || !self->acceptor.is_open()) return;
                if (error) {
                    // Out of descriptors and the like: keep serving the open connections.
                    spdlog::warn("http: accept failed: {}", error.message());
                } else {
                    boost::system::error_code ignored;
                    socket.set_option(tcp::no_delay(true), ignored);
                    std::make_shared<http_session>(std::move(socket), self->context)->start();
                }
                self->do_accept();
            });
    }

    io_pool& loops;
    tcp::acceptor acceptor;
    std::shared_ptr<server_context> context;
};

http_server::http_server(io_pool& loops, const config::server_settings& settings,
                         core::ingestor& ingestor, const core::readiness& readiness)
    : state_(std::make_shared<state>(loops, settings, ingestor, readiness)) {}

http_server::~http_server() = default;

void http_server::start() {
    const auto& settings = state_->context->settings;
    tcp::endpoint endpoint{net::ip::make_address(settings.bind_address), settings.websocket_port};
    auto& acceptor = state_->acceptor;
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    state_->do_accept();
    state_->context->ping_wheel->start();
}

std::uint16_t http_server::port() const { return state_->acceptor.local_endpoint().port(); }

void http_server::shutdown() {
    state_->context->draining = true;
    net::post(state_->acceptor.get_executor(), [s = state_] {
        boost::system::error_code ignored;
        s->acceptor.close(ignored);
    });
    std::vector<std::shared_ptr<connection>> open;
    {
        std::lock_guard lock(state_->context->connections_mutex);
        for (auto& [key, weak] : state_->context->connections) {
            if (auto c = weak.lock()) open.push_back(std::move(c));
        }
    }
    for (auto& c : open) c->shutdown();
    state_->context->ping_wheel->stop();
}

std::size_t http_server::open_connections() const {
    std::lock_guard lock(state_->context->connections_mutex);
    return state_->context->connections.size();
}

}  // namespace raccoon::server::http
