#include <netdb.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <raccoon/metrics/statsd_exporter.hpp>
#include <stdexcept>
#include <string>

namespace raccoon::metrics {
namespace {

// Fits an Ethernet MTU with IP and UDP headers, so datagrams are not fragmented.
constexpr std::size_t max_datagram_bytes = 1432;

int connect_udp(std::string_view address) {
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == address.size()) {
        throw std::invalid_argument("host:port or :port");
    }
    std::string host(address.substr(0, colon));
    const std::string port(address.substr(colon + 1));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) host = "127.0.0.1";

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (int error = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); error != 0) {
        throw std::invalid_argument(std::string("host:port that resolves (") + gai_strerror(error) +
                                    ")");
    }
    int fd = -1;
    for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    if (fd < 0) throw std::invalid_argument("a reachable host:port");
    return fd;
}

}  // namespace

statsd_exporter::statsd_exporter(registry& source, std::string_view address,
                                 std::chrono::milliseconds period)
    : source_(source), period_(period), socket_(connect_udp(address)) {
    thread_ = std::jthread([this](std::stop_token stop) {
        pthread_setname_np(pthread_self(), "statsd");
        std::mutex mutex;
        std::condition_variable_any wake;
        while (!stop.stop_requested()) {
            std::unique_lock lock(mutex);
            wake.wait_for(lock, stop, period_, [] { return false; });
            lock.unlock();
            flush();
        }
        // A stop that came while a period's flush was reading would otherwise
        // lose what changed after that read.
        flush();
    });
}

statsd_exporter::~statsd_exporter() {
    thread_.request_stop();
    thread_.join();
    close(socket_);
}

void statsd_exporter::flush() {
    for (const auto& datagram :
         pack_datagrams(lines_.since_last(source_.read()), max_datagram_bytes)) {
        if (send(socket_, datagram.data(), datagram.size(), MSG_NOSIGNAL) >= 0) continue;
        // Nothing listening yet is normal for UDP; said once, not per flush.
        if (!send_failed_) {
            spdlog::warn("statsd: sending metrics failed: {}", std::strerror(errno));
            send_failed_ = true;
        }
    }
}

}  // namespace raccoon::metrics
