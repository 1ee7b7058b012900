#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <boost/beast/websocket/detail/prng.hpp>
#include <raccoon/server/http/websocket_frames.hpp>

#include "session_base.hpp"
#include "socket_setup.hpp"

namespace raccoon::loadgen {

namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
namespace frames = raccoon::server::http::websocket_frames;
using tcp = net::ip::tcp;

// An answer is a SendEventResponse of a few dozen bytes; anything this big
// is a broken server.
constexpr std::size_t max_answer_bytes = 1 << 20;
constexpr std::size_t read_chunk_bytes = 4096;

// A WebSocket client: binary frames for protobuf, text frames for JSON, acks
// read continuously, the server's pings answered (all an --idle connection
// does). Beast's HTTP code does the upgrade; after it the frames are the
// server's own frame code in the client's role. Beast's stream cost the
// generator as much per request as it had cost the server, and the generator
// shares its core with the broker (docs/performance.md).
class ws_session final : public session_base {
 public:
    ws_session(run_state& run, std::size_t index, net::io_context& io)
        : session_base(run, index, io),
          socket_(strand_),
          deadline_(strand_),
          reader_(max_answer_bytes, frames::role::client),
          // Beast's fast generator, as its own client offers: the masks
          // guard proxies' caches (§10.3), of which loopback has none.
          masks_(beast::websocket::detail::make_prng(false)) {}

 private:
    using socket_type = net::basic_stream_socket<tcp, decltype(strand_)>;

    std::shared_ptr<ws_session> self() {
        return std::static_pointer_cast<ws_session>(shared_from_this());
    }

    void do_start() override {
        if (auto failure = open_and_bind(socket_, source_address()); !failure.empty()) {
            return connected(false, failure);
        }
        arm_deadline();
        const tcp::endpoint server{net::ip::make_address_v4(opts().host), opts().port};
        socket_.async_connect(
            server, [self = self()](beast::error_code error) { self->on_connect(error); });
    }

    // Bounds connecting, the upgrade and the close handshake: on expiry the
    // socket is closed and what was pending fails.
    void arm_deadline() {
        deadline_.expires_after(std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::duration<double>(opts().connect_timeout_s)));
        deadline_.async_wait([self = self()](beast::error_code error) {
            if (error) return;
            self->timed_out_ = true;
            self->abort_transport();
            if (self->close_sent_) self->closed();
        });
    }

    beast::string_view key() const { return {key_.data(), key_.size()}; }

    std::string failure(std::string_view step, beast::error_code error) const {
        return std::string(step) + ": " + (timed_out_ ? "timed out" : error.message());
    }

    void on_connect(beast::error_code error) {
        if (error) return connected(false, failure("connect", error));
        beast::websocket::detail::make_sec_ws_key(key_);
        auto& request = upgrade_.emplace();
        request.method(http::verb::get);
        request.target(opts().target);
        request.version(11);
        request.set(http::field::host, opts().host + ":" + std::to_string(opts().port));
        request.set(http::field::upgrade, "websocket");
        request.set(http::field::connection, "Upgrade");
        request.set(http::field::sec_websocket_key, key());
        request.set(http::field::sec_websocket_version, "13");
        request.set(http::field::user_agent, "raccoon-loadgen");
        request.set(opts().id_header, id());
        if (!opts().group_header.empty()) request.set(opts().group_header, opts().group);
        http::async_write(socket_, request, [self = self()](beast::error_code e, std::size_t) {
            self->on_upgrade_sent(e);
        });
    }

    void on_upgrade_sent(beast::error_code error) {
        if (error) return connected(false, failure("handshake", error));
        upgrade_.reset();
        // Into input_: frames the server sends right after its answer (a
        // refusal) stay there, behind the HTTP response.
        http::async_read(
            socket_, input_, answer_.emplace(),
            [self = self()](beast::error_code e, std::size_t) { self->on_upgraded(e); });
    }

    void on_upgraded(beast::error_code error) {
        if (error) return connected(false, failure("handshake", error));
        const auto& answer = answer_->get();
        beast::websocket::detail::sec_ws_accept_type expected;
        beast::websocket::detail::make_sec_ws_accept(expected, key());
        std::string declined;
        if (answer.result() != http::status::switching_protocols) {
            declined = "status " + std::to_string(answer.result_int());
        } else if (!beast::iequals(answer[http::field::upgrade], "websocket")) {
            declined = "no Upgrade: websocket";
        } else if (answer[http::field::sec_websocket_accept] !=
                   beast::string_view(expected.data(), expected.size())) {
            declined = "wrong Sec-WebSocket-Accept";
        }
        answer_.reset();
        if (!declined.empty()) return connected(false, "handshake: declined, " + declined);
        deadline_.cancel();
        socket_.non_blocking(true, error);
        if (error) return connected(false, "handshake: " + error.message());
        connected(true);
        if (socket_.is_open() && handle_input()) do_read();
    }

    void do_read() {
        // Room for the frame begun, if it is big, else for a few answers.
        const std::size_t missing =
            next_frame_bytes_ > input_.size() ? next_frame_bytes_ - input_.size() : 0;
        socket_.async_read_some(input_.prepare(std::max(read_chunk_bytes, missing)),
                                [self = self()](beast::error_code error, std::size_t bytes) {
                                    self->on_read(error, bytes);
                                });
    }

    void on_read(beast::error_code error, std::size_t bytes) {
        if (error) {
            if (close_sent_) return end();
            return failed(failure("read", error));
        }
        input_.commit(bytes);
        if (handle_input()) do_read();
    }

    // Handles the whole frames read; false once the connection is ending.
    bool handle_input() {
        while (socket_.is_open()) {
            const auto data = input_.data();
            const auto step = reader_.next({static_cast<char*>(data.data()), data.size()});
            if (!step.found) {
                input_.consume(step.consumed);
                next_frame_bytes_ = step.frame_bytes;
                return true;
            }
            const frames::event& event = *step.found;
            switch (event.what) {
                case frames::event::kind::message:
                    on_answer(event.payload, event.text ? wire_format::json : wire_format::proto,
                              0);
                    break;
                case frames::event::kind::ping:
                    if (!close_sent_) {
                        frames::append_frame(outgoing_, frames::opcode::pong, event.payload,
                                             next_mask());
                        flush();
                    }
                    break;
                case frames::event::kind::pong:
                    break;
                case frames::event::kind::close:
                    if (close_sent_) {
                        end();
                        return false;
                    }
                    // Answered as the protocol asks, but the server ended a
                    // connection we were still using: it is lost.
                    send_close(event.code == frames::close_code::no_status
                                   ? frames::close_code::normal
                                   : event.code);
                    failed("closed by server: " + std::to_string(event.code));
                    return false;
                case frames::event::kind::failure:
                    failed("read: " + std::string(event.payload));
                    return false;
            }
            input_.consume(step.consumed);
        }
        return false;
    }

    frames::masking_key next_mask() {
        const std::uint32_t bits = masks_();
        return {static_cast<unsigned char>(bits), static_cast<unsigned char>(bits >> 8),
                static_cast<unsigned char>(bits >> 16), static_cast<unsigned char>(bits >> 24)};
    }

    void transmit(std::string message, std::string_view) override {
        frames::append_frame(
            outgoing_,
            opts().format == wire_format::proto ? frames::opcode::binary : frames::opcode::text,
            message, next_mask());
        flush();
    }

    // Writes what is queued: at once while the socket takes it, else the
    // rest asynchronously, one write at a time.
    void flush() {
        if (writing_ || outgoing_.empty() || !socket_.is_open()) return;
        beast::error_code error;
        const std::size_t taken = socket_.write_some(net::buffer(outgoing_), error);
        if (error && error != net::error::would_block) return failed(failure("write", error));
        outgoing_.erase(0, taken);
        if (outgoing_.empty()) return;
        writing_ = true;
        sending_.swap(outgoing_);
        net::async_write(socket_, net::buffer(sending_),
                         [self = self()](beast::error_code e, std::size_t) { self->on_sent(e); });
    }

    void on_sent(beast::error_code error) {
        writing_ = false;
        sending_.clear();
        if (error) return failed(failure("write", error));
        flush();
    }

    void send_close(std::uint16_t code) {
        close_sent_ = true;
        frames::append_close(outgoing_, code, {}, next_mask());
        flush();
    }

    void close_transport() override {
        send_close(frames::close_code::normal);
        arm_deadline();
    }

    void abort_transport() override {
        deadline_.cancel();
        beast::error_code ignored;
        socket_.close(ignored);
    }

    // The close handshake is done (or the server ended the stream after it).
    void end() {
        abort_transport();
        closed();
    }

    socket_type socket_;
    net::steady_timer deadline_;
    bool timed_out_ = false;

    beast::websocket::detail::sec_ws_key_type key_;
    std::optional<http::request<http::empty_body>> upgrade_;
    std::optional<http::response_parser<http::empty_body>> answer_;

    beast::flat_buffer input_;
    std::size_t next_frame_bytes_ = 0;
    frames::reader reader_;

    beast::websocket::detail::generator masks_;
    std::string outgoing_;
    std::string sending_;
    bool writing_ = false;
    bool close_sent_ = false;
};

}  // namespace

std::shared_ptr<session> make_ws_session(run_state& run, std::size_t index, net::io_context& io) {
    return std::make_shared<ws_session>(run, index, io);
}

}  // namespace raccoon::loadgen
