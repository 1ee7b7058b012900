#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

#include "session_base.hpp"
#include "socket_setup.hpp"

namespace raccoon::loadgen {

namespace {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// A WebSocket client: binary frames for protobuf, text frames for JSON, acks
// read continuously. While a read is pending Beast answers the server's pings,
// which is all an --idle connection does.
class ws_session final : public session_base {
 public:
    ws_session(run_state& run, std::size_t index, net::io_context& io)
        : session_base(run, index, io), ws_(strand_) {}

 private:
    std::shared_ptr<ws_session> self() {
        return std::static_pointer_cast<ws_session>(shared_from_this());
    }

    void do_start() override {
        auto& stream = beast::get_lowest_layer(ws_);
        if (auto failure = open_and_bind(stream.socket(), source_address()); !failure.empty()) {
            return connected(false, failure);
        }
        stream.expires_after(std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::duration<double>(opts().connect_timeout_s)));
        const tcp::endpoint server{net::ip::make_address_v4(opts().host), opts().port};
        stream.async_connect(server,
                             [self = self()](beast::error_code error) { self->on_connect(error); });
    }

    void on_connect(beast::error_code error) {
        if (error) return connected(false, "connect: " + error.message());
        // The WebSocket stream keeps its own timeouts from here on.
        beast::get_lowest_layer(ws_).expires_never();
        websocket::stream_base::timeout timeout{};
        timeout.handshake_timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::duration<double>(opts().connect_timeout_s));
        timeout.idle_timeout = websocket::stream_base::none();
        timeout.keep_alive_pings = false;
        ws_.set_option(timeout);
        ws_.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, "raccoon-loadgen");
            req.set(opts().id_header, id());
            if (!opts().group_header.empty()) req.set(opts().group_header, opts().group);
        }));
        ws_.binary(opts().format == wire_format::proto);
        ws_.auto_fragment(false);
        const std::string host = opts().host + ":" + std::to_string(opts().port);
        ws_.async_handshake(host, opts().target,
                            [self = self()](beast::error_code e) { self->on_handshake(e); });
    }

    void on_handshake(beast::error_code error) {
        if (error) return connected(false, "handshake: " + error.message());
        connected(true);
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, [self = self()](beast::error_code error, std::size_t) {
            self->on_read(error);
        });
    }

    void on_read(beast::error_code error) {
        if (error) {
            if (error == websocket::error::closed) {
                return failed("closed by server: " + std::to_string(ws_.reason().code));
            }
            return failed("read: " + error.message());
        }
        const auto data = buffer_.cdata();
        on_answer({static_cast<const char*>(data.data()), data.size()},
                  ws_.got_text() ? wire_format::json : wire_format::proto, 0);
        buffer_.consume(buffer_.size());
        // Once closing, async_close reads (and drops) what is left itself.
        if (!closing()) do_read();
    }

    void transmit(std::string message, std::string_view) override {
        writes_.push_back(std::move(message));
        if (!writing_) do_write();
    }

    void do_write() {
        writing_ = true;
        ws_.async_write(
            net::buffer(writes_.front()),
            [self = self()](beast::error_code error, std::size_t) { self->on_write(error); });
    }

    void on_write(beast::error_code error) {
        writing_ = false;
        if (error) return failed("write: " + error.message());
        writes_.pop_front();
        if (!writes_.empty() && !closing()) do_write();
    }

    void close_transport() override {
        ws_.async_close(websocket::close_code::normal,
                        [self = self()](beast::error_code) { self->closed(); });
    }

    void abort_transport() override {
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    std::deque<std::string> writes_;
    bool writing_ = false;
};

}  // namespace

std::shared_ptr<session> make_ws_session(run_state& run, std::size_t index, net::io_context& io) {
    return std::make_shared<ws_session>(run, index, io);
}

}  // namespace raccoon::loadgen
