#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace raccoon::server::http {

// The Prometheus endpoint on its own port (METRIC_PROMETHEUS_PORT), so that
// it can stay internal while the events port faces clients: GET `path`
// answers what `render` returns, in the text exposition format.
class metrics_server {
 public:
    metrics_server(boost::asio::io_context& io, const std::string& bind_address, std::uint16_t port,
                   std::string path, std::function<std::string()> render);
    ~metrics_server();

    metrics_server(const metrics_server&) = delete;
    metrics_server& operator=(const metrics_server&) = delete;

    // Binds and starts accepting; throws std::system_error when it cannot bind.
    void start();
    std::uint16_t port() const;
    // Stops accepting; scrapes in progress finish.
    void stop();

 private:
    struct state;
    std::shared_ptr<state> state_;
};

}  // namespace raccoon::server::http
