#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>

#include "session_base.hpp"
#include "socket_setup.hpp"

namespace raccoon::loadgen {

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// A REST client on one keep-alive connection: POST /api/v1/events, one
// request on the wire at a time (no pipelining); with a window above one or
// an open-loop rate, later requests wait in a queue here, and their latency
// includes that wait.
class rest_session final : public session_base {
 public:
    rest_session(run_state& run, std::size_t index, net::io_context& io)
        : session_base(run, index, io), stream_(strand_) {}

 private:
    std::shared_ptr<rest_session> self() {
        return std::static_pointer_cast<rest_session>(shared_from_this());
    }

    void do_start() override {
        if (auto failure = open_and_bind(stream_.socket(), source_address()); !failure.empty()) {
            return connected(false, failure);
        }
        stream_.expires_after(std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::duration<double>(opts().connect_timeout_s)));
        const tcp::endpoint server{net::ip::make_address_v4(opts().host), opts().port};
        stream_.async_connect(
            server, [self = self()](beast::error_code error) { self->on_connect(error); });
    }

    void on_connect(beast::error_code error) {
        if (error) return connected(false, "connect: " + error.message());
        stream_.expires_never();
        request_.method(http::verb::post);
        request_.target(opts().target);
        request_.version(11);
        request_.set(http::field::host, opts().host + ":" + std::to_string(opts().port));
        request_.set(http::field::user_agent, "raccoon-loadgen");
        request_.set(http::field::content_type, opts().format == wire_format::proto
                                                    ? "application/proto"
                                                    : "application/json");
        request_.set(opts().id_header, id());
        if (!opts().group_header.empty()) request_.set(opts().group_header, opts().group);
        request_.keep_alive(true);
        connected(true);
    }

    void transmit(std::string message, std::string_view) override {
        queue_.push_back(std::move(message));
        if (!busy_) send_next();
    }

    void send_next() {
        busy_ = true;
        request_.body() = std::move(queue_.front());
        queue_.pop_front();
        request_.prepare_payload();
        http::async_write(stream_, request_, [self = self()](beast::error_code error, std::size_t) {
            self->on_write(error);
        });
    }

    void on_write(beast::error_code error) {
        if (error) return failed("write: " + error.message());
        response_ = {};
        http::async_read(stream_, buffer_, response_,
                         [self = self()](beast::error_code e, std::size_t) { self->on_read(e); });
    }

    void on_read(beast::error_code error) {
        if (error) return failed("read: " + error.message());
        const std::string_view content_type = response_[http::field::content_type];
        const wire_format format =
            content_type.starts_with("application/proto") ? wire_format::proto : wire_format::json;
        const bool keep_alive = response_.keep_alive();
        // Still busy while the answer is handled: the requests it lets the
        // plan send only queue, and the next one starts below, once.
        on_answer(response_.body(), format, response_.result_int());
        busy_ = false;
        if (closing()) return;
        if (!keep_alive) return failed("server ended keep-alive");
        if (!queue_.empty()) send_next();
    }

    void close_transport() override {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.socket().close(ignored);
        closed();
    }

    void abort_transport() override {
        beast::error_code ignored;
        stream_.socket().close(ignored);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    http::response<http::string_body> response_;
    std::deque<std::string> queue_;
    bool busy_ = false;
};

}  // namespace

std::shared_ptr<session> make_rest_session(run_state& run, std::size_t index, net::io_context& io) {
    return std::make_shared<rest_session>(run, index, io);
}

}  // namespace raccoon::loadgen
