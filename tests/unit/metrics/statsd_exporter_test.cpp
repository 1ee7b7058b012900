#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <raccoon/metrics/statsd_exporter.hpp>
#include <string>

namespace raccoon::metrics {
namespace {

class udp_listener {
 public:
    udp_listener() : fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
        socklen_t length = sizeof address;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
    }
    ~udp_listener() { close(fd_); }

    int port() const { return port_; }

    // The next datagram, or "" after `timeout_ms`.
    std::string receive(int timeout_ms) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) != 1) return "";
        char buffer[2048];
        const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
        return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
    }

 private:
    int fd_;
    int port_ = 0;
};

TEST(StatsdExporter, SendsEveryPeriodAndOnceMoreWhenStopped) {
    udp_listener listener;
    registry r;
    auto& c = r.add_counter("events_rx_total", "e", {"conn_group"});
    c.with({"web"}).add(2);
    {
        statsd_exporter exporter(r, "127.0.0.1:" + std::to_string(listener.port()),
                                 std::chrono::milliseconds(50));
        EXPECT_EQ(listener.receive(5000), "events_rx_total,conn_group=web:2|c");
        c.with({"web"}).add(5);
    }
    // The last increase, sent on destruction even if no period had passed.
    std::string last;
    for (std::string d; !(d = listener.receive(1000)).empty();) last = d;
    EXPECT_EQ(last, "events_rx_total,conn_group=web:5|c");
}

TEST(StatsdExporter, AnEmptyHostMeansThisHost) {
    udp_listener listener;
    registry r;
    r.add_gauge("g", "g").with({}).set(1);
    statsd_exporter exporter(r, ":" + std::to_string(listener.port()),
                             std::chrono::milliseconds(20));
    EXPECT_EQ(listener.receive(5000), "g:1|g");
}

TEST(StatsdExporter, RefusesAnAddressWithoutAPort) {
    registry r;
    EXPECT_THROW(statsd_exporter(r, "localhost", std::chrono::milliseconds(10)),
                 std::invalid_argument);
    EXPECT_THROW(statsd_exporter(r, "no-such-host.invalid:8125", std::chrono::milliseconds(10)),
                 std::invalid_argument);
}

}  // namespace
}  // namespace raccoon::metrics
