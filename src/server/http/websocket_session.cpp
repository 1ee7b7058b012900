#include "websocket_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <raccoon/core/batch_metrics.hpp>
#include <raccoon/core/error.hpp>
#include <raccoon/core/request_error_log.hpp>
#include <raccoon/metrics/catalog.hpp>
#include <utility>

namespace raccoon::server::http {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
namespace frames = websocket_frames;

namespace {

// How many delivered req_guids a connection remembers for dedup; older ones
// are forgotten first, which bounds the memory a long-lived connection holds.
constexpr std::size_t remembered_guids = 1024;
// What a connection reads into: enough for the usual request, and several
// pipelined ones, in one read. A buffer a large message grew is given back
// once it is handled; outgoing bytes are kept up to the same size.
constexpr std::size_t read_buffer_bytes = 4096;

}  // namespace

websocket_session::websocket_session(connection_socket&& socket,
                                     std::shared_ptr<server_context> context,
                                     core::connection_identity identity)
    : socket_(std::move(socket)),
      context_(std::move(context)),
      identity_(std::move(identity)),
      frames_(context_->settings.max_request_bytes),
      deadline_(socket_.get_executor()) {}

websocket_session::~websocket_session() {
    context_->remove_connection(this);
    release();
}

void websocket_session::release() {
    // When the connection ends, not when this object goes: acks of batches
    // still being delivered keep it alive, but the (id, group) and the place
    // are free again at once for the client's next connection.
    if (!admitted_ || released_) return;
    released_ = true;
    auto& m = metrics::global();
    m.connections_count_current.with({identity_.group}).add(-1);
    m.user_session_duration_milliseconds.with({identity_.group})
        .observe(
            std::chrono::duration<double, std::milli>(core::clock::now() - admitted_at_).count());
    context_->websockets.release(identity_);
    context_->ping_wheel->remove(pinger_slot_, this);
}

void websocket_session::start(upgrade_request request) {
    const auto& settings = context_->settings;
    auto& handshake = handshake_.emplace(socket_);
    // Beast's handshake timer bounds writing the upgrade's answer.
    websocket::stream_base::timeout timeout =
        websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeout.handshake_timeout = settings.websocket_write_wait_interval;
    timeout.idle_timeout = websocket::stream_base::none();
    timeout.keep_alive_pings = false;
    handshake.set_option(timeout);
    handshake.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "raccoon"); }));
    handshake.async_accept(
        request, [self = shared_from_this()](beast::error_code error) { self->on_accept(error); });
}

void websocket_session::on_accept(beast::error_code error) {
    handshake_.reset();
    auto& m = metrics::global();
    if (!error) socket_.non_blocking(true, error);
    if (error) {
        m.user_connection_failure_total.with({identity_.group, "ugfailure"}).add();
        return;
    }
    context_->add_connection(shared_from_this());
    switch (context_->websockets.admit(identity_)) {
        case connection_table::admission::duplicate:
            m.user_connection_failure_total.with({identity_.group, "exists"}).add();
            return refuse(codec::response_code::max_user_limit_reached,
                          "a connection with this id and group is already open");
        case connection_table::admission::full:
            m.user_connection_failure_total.with({identity_.group, "serverlimit"}).add();
            return refuse(codec::response_code::max_connection_limit_reached,
                          "the server holds its maximum number of connections");
        case connection_table::admission::admitted:
            break;
    }
    admitted_ = true;
    admitted_at_ = core::clock::now();
    m.user_connection_success_total.with({identity_.group}).add();
    m.connections_count_current.with({identity_.group}).add(1);
    last_heard_ = core::clock::now();
    pinger_slot_ = context_->ping_wheel->add(shared_from_this());
    if (context_->draining) return shutdown();
    do_read();
}

void websocket_session::refuse(codec::response_code code, std::string reason) {
    // Upstream clients expect the refusal as one binary SendEventResponse with
    // no data, then a policy-violation close.
    codec::response refusal = codec::response_for({}, std::nullopt);
    refusal.success = false;
    refusal.code = code;
    refusal.reason = std::move(reason);
    core::request_error_log().warn("websocket {} (group {}) refused: {}", identity_.id,
                                   identity_.group, refusal.reason);
    closing_ = true;
    send_ack(codec::encode_response(refusal, codec::wire_format::protobuf), false);
}

void websocket_session::do_read() {
    if (reading_) return;
    handle_input();
    // Draining reads nothing new until its close is sent; then only the
    // peer's answer to it matters.
    if (reading_ || ending_ || waiting_for_room_ || close_to_answer_ ||
        ((closing_ || closed_) && !close_sent_)) {
        return;
    }
    const std::size_t buffered = input_end_ - input_begin_;
    if (buffered == 0) input_begin_ = input_end_ = 0;
    const std::size_t wanted = std::max(next_frame_bytes_, buffered + read_buffer_bytes / 2);
    if (input_capacity_ < wanted || (buffered == 0 && input_capacity_ > read_buffer_bytes)) {
        const std::size_t capacity = std::max(wanted, read_buffer_bytes);
        auto grown = std::make_unique_for_overwrite<char[]>(capacity);
        if (buffered > 0) std::memcpy(grown.get(), input_.get() + input_begin_, buffered);
        input_ = std::move(grown);
        input_capacity_ = capacity;
        input_begin_ = 0;
        input_end_ = buffered;
    } else if (input_capacity_ - input_begin_ < wanted) {
        std::memmove(input_.get(), input_.get() + input_begin_, buffered);
        input_begin_ = 0;
        input_end_ = buffered;
    }
    reading_ = true;
    // A read waits as long as the peer likes (the pinger judges liveness).
    socket_.async_read_some(
        net::buffer(input_.get() + input_end_, input_capacity_ - input_end_),
        [self = shared_from_this()](beast::error_code error, std::size_t bytes) {
            self->on_read(error, bytes);
        });
}

void websocket_session::on_read(beast::error_code error, std::size_t bytes) {
    reading_ = false;
    if (error) {
        // Closed or reset by the peer, or our own abort: in-flight acks have
        // nowhere to go.
        const bool answering_our_close = close_sent_;
        closed_ = true;
        release();
        if (answering_our_close) abort();
        return;
    }
    input_end_ += bytes;
    last_heard_ = core::clock::now();
    do_read();
}

void websocket_session::handle_input() {
    if (handling_input_) return;
    handling_input_ = true;
    // Draining, the messages already read are still handled (and acked);
    // do_read() reads no more.
    while (input_begin_ < input_end_ && socket_.is_open() && !waiting_for_room_ && !ending_ &&
           !close_to_answer_) {
        const auto step =
            frames_.next(std::span<char>(input_.get() + input_begin_, input_end_ - input_begin_));
        input_begin_ += step.consumed;
        next_frame_bytes_ = step.frame_bytes;
        if (!step.found) break;
        const frames::event& event = *step.found;
        switch (event.what) {
            case frames::event::kind::message:
                // Once our close is sent, the peer's messages go unanswered.
                if (!closed_) {
                    handle_message(event.payload, event.text ? codec::wire_format::json
                                                             : codec::wire_format::protobuf);
                }
                break;
            case frames::event::kind::ping:
                if (close_sent_) break;
                if (sending_async_) {
                    // While the peer does not read, only its latest ping is
                    // answered (RFC 6455 §5.5.3), so its pings cannot queue
                    // pongs without bound.
                    pong_pending_ = true;
                    pong_payload_.assign(event.payload);
                } else {
                    frames::append_frame(outgoing_, frames::opcode::pong, event.payload);
                    flush();
                }
                break;
            case frames::event::kind::pong:
                ping_in_flight_ = false;
                break;
            case frames::event::kind::close:
                close_in_answer(event.code == frames::close_code::no_status
                                    ? frames::close_code::normal
                                    : event.code,
                                {});
                break;
            case frames::event::kind::failure:
                spdlog::debug("websocket {}: {}, closing with {}", identity_.id, event.payload,
                              event.code);
                close_in_answer(event.code, event.payload);
                break;
        }
    }
    handling_input_ = false;
}

void websocket_session::handle_message(std::string_view message, codec::wire_format format) {
    waiting_for_room_ = std::make_unique<core::batch>();
    auto on_room = [self = shared_from_this(), format] {
        net::post(self->socket_.get_executor(), [self, format] {
            const std::string message = std::move(self->message_waiting_);
            self->decode_message(message, format);
            if (!self->waiting_for_room_) self->last_heard_ = core::clock::now();
            self->do_read();
        });
    };
    if (context_->reserve(*waiting_for_room_, message.size(), std::move(on_room))) {
        return decode_message(message, format);
    }
    // Reading stops until the bytes are held. The message views the input,
    // which a read after a close may overwrite, so it waits as a copy.
    message_waiting_.assign(message);
}

void websocket_session::decode_message(std::string_view message, codec::wire_format format) {
    auto decoded = codec::decode_request(message, format, context_->request_limits(),
                                         std::move(waiting_for_room_));
    if (!decoded) {
        core::count_batch_failed(identity_.group, "serde");
        core::request_error_log().warn("websocket {} (group {}): bad message: {}", identity_.id,
                                       identity_.group, decoded.error().reason);
        // Upstream's WebSocket refusal names the req_guid, empty when unread
        // (its REST refusal has no data: codec::refusal_for).
        return send_ack(codec::encode_response(
                            codec::response_for({core::make_error_code(core::errc::bad_request),
                                                 decoded.error().reason},
                                                decoded.error().req_guid),
                            format),
                        format == codec::wire_format::json);
    }
    std::unique_ptr<core::batch> b = std::move(*decoded);
    b->identity = identity_;

    if (context_->settings.batch_dedup_in_connection) {
        if (guids_delivered_.contains(b->req_guid)) {
            core::count_duplicate_batch(identity_.group);
            return send_ack(codec::encode_response(codec::response_for({}, b->req_guid), format),
                            format == codec::wire_format::json);
        }
        if (auto in_flight = guids_in_flight_.find(b->req_guid);
            in_flight != guids_in_flight_.end()) {
            // Answered with the first one's result, so a failure is not hidden.
            core::count_duplicate_batch(identity_.group);
            in_flight->second.push_back(format);
            return;
        }
        guids_in_flight_.emplace(b->req_guid, std::vector<codec::wire_format>{});
    }
    core::count_batch_read(*b);

    b->set_completion([self = shared_from_this(), guid = b->req_guid,
                       format](const core::batch_result& result) mutable {
        net::post(self->socket_.get_executor(), [self, result, guid = std::move(guid), format] {
            self->on_batch_done(result, guid, format);
        });
    });
    ++batches_in_flight_;
    waiting_for_room_ = std::move(b);
    offer_batch();
}

void websocket_session::offer_batch() {
    auto on_room = [self = shared_from_this()] {
        net::post(self->socket_.get_executor(), [self] {
            self->offer_batch();
            if (!self->waiting_for_room_) self->last_heard_ = core::clock::now();
            self->do_read();
        });
    };
    context_->submit(waiting_for_room_, std::move(on_room), socket_.get_executor());
}

void websocket_session::on_batch_done(const core::batch_result& result, const std::string& req_guid,
                                      codec::wire_format format) {
    --batches_in_flight_;
    std::vector<codec::wire_format> repeats;
    if (context_->settings.batch_dedup_in_connection) {
        if (auto in_flight = guids_in_flight_.find(req_guid); in_flight != guids_in_flight_.end()) {
            repeats = std::move(in_flight->second);
            guids_in_flight_.erase(in_flight);
        }
        // A failed guid is forgotten, so the client can retry it.
        if (result.ok() && guids_delivered_.insert(req_guid).second) {
            guids_delivered_order_.push_back(req_guid);
            if (guids_delivered_order_.size() > remembered_guids) {
                guids_delivered_.erase(guids_delivered_order_.front());
                guids_delivered_order_.pop_front();
            }
        }
    }
    if (closed_) return;
    // All of them queued before any is written, so a drain cannot close the
    // connection between the first ack and its repeats'.
    const auto response = codec::response_for(result, req_guid);
    queue_ack(codec::encode_response(response, format), format == codec::wire_format::json);
    for (auto repeat : repeats) {
        queue_ack(codec::encode_response(response, repeat), repeat == codec::wire_format::json);
    }
    flush();
    if (close_to_answer_) return answer_close_when_acked();
    if (closing_) close_when_done();
}

void websocket_session::send_ack(std::string_view payload, bool text) {
    queue_ack(payload, text);
    flush();
}

void websocket_session::queue_ack(std::string_view payload, bool text) {
    if (closed_) return;
    const auto& settings = context_->settings;
    if (outgoing_acks_ + sending_acks_ >= settings.websocket_max_queued_acks ||
        outgoing_.size() + sending_.size() + payload.size() >
            settings.websocket_max_queued_ack_bytes) {
        // The client sends but does not read its acks: holding more would let
        // it grow the server's memory without bound, in count or in bytes.
        spdlog::debug("websocket {}: {} acks, {} bytes unread, closing", identity_.id,
                      outgoing_acks_ + sending_acks_, outgoing_.size() + sending_.size());
        return abort();
    }
    frames::append_frame(outgoing_, text ? frames::opcode::text : frames::opcode::binary, payload);
    ++outgoing_acks_;
}

void websocket_session::flush() {
    if (sending_async_ || outgoing_.empty() || !socket_.is_open()) return;
    beast::error_code error;
    // The socket is non-blocking: it takes what fits and returns.
    const std::size_t taken = socket_.write_some(net::buffer(outgoing_), error);
    if (error && error != net::error::would_block) {
        closed_ = true;
        return abort();
    }
    if (taken == outgoing_.size()) {
        outgoing_.clear();
        outgoing_acks_ = 0;
        return on_flushed();
    }
    // The peer reads slower than we write: the rest goes when it has room,
    // within the write wait; what is queued meanwhile waits in outgoing_.
    sending_.assign(outgoing_, taken);
    outgoing_.clear();
    sending_acks_ = std::exchange(outgoing_acks_, 0);
    sending_async_ = true;
    arm_deadline();
    net::async_write(socket_, net::buffer(sending_),
                     [self = shared_from_this()](beast::error_code error, std::size_t) {
                         self->on_flush(error);
                     });
}

void websocket_session::on_flush(beast::error_code error) {
    sending_async_ = false;
    if (error) {
        // Includes a write aborted by its deadline.
        closed_ = true;
        return abort();
    }
    if (!close_sent_ && deadline_armed_) {
        deadline_armed_ = false;
        deadline_.cancel();
    }
    sending_.clear();
    sending_acks_ = 0;
    if (sending_.capacity() > read_buffer_bytes) sending_.shrink_to_fit();
    if (pong_pending_) {
        frames::append_frame(outgoing_, frames::opcode::pong, pong_payload_);
        pong_pending_ = false;
    }
    if (outgoing_.empty()) return on_flushed();
    flush();
}

void websocket_session::on_flushed() {
    if (outgoing_.capacity() > read_buffer_bytes) outgoing_.shrink_to_fit();
    if (ending_) return tear_down();
    if (closing_) close_when_done();
}

void websocket_session::on_ping_due() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->ping_if_alive(); });
}

void websocket_session::ping_if_alive() {
    // While reading is paused for backpressure the peer's pongs sit unread:
    // its silence is ours, not a sign it is gone.
    if (closed_ || waiting_for_room_) return;
    // A peer is gone when our ping went unanswered for the pong wait and it
    // sent nothing else meanwhile. Timing the wait from the ping, not from
    // the last pong as upstream does, keeps a peer that answers every ping
    // whatever the pair of settings (upstream's own compose file sets the
    // wait equal to the interval).
    const auto now = core::clock::now();
    const auto pong_wait = context_->settings.websocket_pong_wait_interval;
    if (ping_in_flight_ && now - ping_sent_at_ >= pong_wait && now - last_heard_ >= pong_wait) {
        metrics::global().server_pong_failure_total.with({identity_.group}).add();
        spdlog::debug(
            "websocket {}: no pong for {} ms, closing", identity_.id,
            std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heard_).count());
        return abort();
    }
    if (ping_in_flight_) return;
    ping_in_flight_ = true;
    ping_sent_at_ = now;
    frames::append_frame(outgoing_, frames::opcode::ping, {});
    flush();
    if (!socket_.is_open())
        metrics::global().server_ping_failure_total.with({identity_.group}).add();
}

void websocket_session::arm_deadline() {
    if (deadline_armed_) return;
    deadline_armed_ = true;
    deadline_.expires_after(context_->settings.websocket_write_wait_interval);
    deadline_.async_wait([self = shared_from_this(),
                          armed = ++deadlines_armed_](beast::error_code error) {
        if (error || !self->deadline_armed_ || armed != self->deadlines_armed_) return;
        self->deadline_armed_ = false;
        if (self->tearing_down_) {
            spdlog::debug("websocket {}: no end of stream from the peer in {} ms, closing",
                          self->identity_.id,
                          self->context_->settings.websocket_write_wait_interval.count());
        } else if (self->close_sent_) {
            metrics::global().conn_close_err_count.with({}).add();
        } else {
            spdlog::debug("websocket {}: a write stalled for {} ms, closing", self->identity_.id,
                          self->context_->settings.websocket_write_wait_interval.count());
        }
        self->abort();
    });
}

void websocket_session::shutdown() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
        self->closing_ = true;
        self->close_when_done();
    });
}

void websocket_session::close_when_done() {
    if (closed_ || close_to_answer_ || sending_async_ || batches_in_flight_ > 0 ||
        !outgoing_.empty()) {
        return;
    }
    send_close(admitted_ ? frames::close_code::going_away : frames::close_code::policy_violation);
}

void websocket_session::send_close(std::uint16_t code) {
    closed_ = true;
    close_sent_ = true;
    frames::append_close(outgoing_, code, {});
    arm_deadline();
    flush();
    do_read();
}

void websocket_session::close_in_answer(std::uint16_t code, std::string_view reason) {
    if (close_sent_) return tear_down();
    // The identity is free at once and nothing more is read, but the acks of
    // the messages already taken go out before our close: their events are
    // published, and a client that never saw their acks would send them again.
    release();
    close_to_answer_.emplace(code, std::string(reason));
    answer_close_when_acked();
}

void websocket_session::answer_close_when_acked() {
    if (batches_in_flight_ > 0) return;
    closed_ = true;
    frames::append_close(outgoing_, close_to_answer_->first, close_to_answer_->second);
    end_after_flush();
}

void websocket_session::end_after_flush() {
    ending_ = true;
    flush();
    if (!sending_async_ && outgoing_.empty()) tear_down();
}

void websocket_session::tear_down() {
    if (tearing_down_ || !socket_.is_open()) return;
    tearing_down_ = true;
    ending_ = true;
    // The peer gets our FIN, and what it still sends is read and dropped
    // until its own: closing with unread bytes would send a reset, which can
    // overtake the close frame.
    beast::error_code ignored;
    socket_.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
    arm_deadline();
    // Only reached from what was read, so input_ is there to drop into.
    discard_until_end();
}

void websocket_session::discard_until_end() {
    socket_.async_read_some(net::buffer(input_.get(), input_capacity_),
                            [self = shared_from_this()](beast::error_code error, std::size_t) {
                                if (error) return self->abort();
                                self->discard_until_end();
                            });
}

void websocket_session::abort() {
    closed_ = true;
    release();
    if (deadline_armed_) {
        deadline_armed_ = false;
        deadline_.cancel();
    }
    beast::error_code ignored;
    socket_.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

}  // namespace raccoon::server::http
