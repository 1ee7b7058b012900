#pragma once

#include <netinet/in.h>

#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace raccoon::loadgen {

// Opens `socket` and, given a source address, binds it there before connect.
// IP_BIND_ADDRESS_NO_PORT lets the kernel pick the port at connect time by
// the whole 4-tuple, so each source address has the full ephemeral range.
// Returns the step that failed, or an empty string.
template <class Socket>
std::string open_and_bind(Socket& socket, const std::string& source_address) {
    namespace net = boost::asio;
    boost::system::error_code error;
    socket.open(net::ip::tcp::v4(), error);
    if (error) return "socket: " + error.message();
    socket.set_option(net::ip::tcp::no_delay(true), error);
    if (source_address.empty()) return {};
    using bind_no_port = net::detail::socket_option::boolean<IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT>;
    socket.set_option(bind_no_port(true), error);  // best effort: older kernels lack it
    socket.bind({net::ip::make_address_v4(source_address), 0}, error);
    if (error) return "bind " + source_address + ": " + error.message();
    return {};
}

}  // namespace raccoon::loadgen
