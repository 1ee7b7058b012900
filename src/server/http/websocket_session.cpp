#include "websocket_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <raccoon/core/batch_metrics.hpp>
#include <raccoon/core/error.hpp>
#include <raccoon/core/request_error_log.hpp>
#include <raccoon/metrics/catalog.hpp>

namespace raccoon::server::http {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;

namespace {

// How many delivered req_guids a connection remembers for dedup; older ones
// are forgotten first, which bounds the memory a long-lived connection holds.
constexpr std::size_t remembered_guids = 1024;
// What an emptied connection keeps for its next message and acks: enough for
// the usual request and a few pipelined acks, so a busy connection does not
// free and allocate them again per message.
constexpr std::size_t kept_buffer_bytes = 4096;
constexpr std::size_t kept_queued_writes = 8;

}  // namespace

websocket_session::websocket_session(connection_socket&& socket,
                                     std::shared_ptr<server_context> context,
                                     core::connection_identity identity)
    : ws_(std::move(socket)),
      context_(std::move(context)),
      identity_(std::move(identity)),
      send_deadline_(ws_.get_executor()) {}

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
    // Liveness is ours (the pinger), not Beast's idle timer. Beast's handshake
    // timer bounds what is left to it: writing the upgrade's answer and the
    // close handshake.
    websocket::stream_base::timeout timeout =
        websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeout.handshake_timeout = settings.websocket_write_wait_interval;
    timeout.idle_timeout = websocket::stream_base::none();
    timeout.keep_alive_pings = false;
    ws_.set_option(timeout);
    ws_.read_message_max(settings.max_request_bytes);
    ws_.auto_fragment(false);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "raccoon"); }));
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
        // Runs inside a read on the loop: any frame from the peer shows it is alive.
        if (kind == websocket::frame_type::pong) ping_in_flight_ = false;
        last_heard_ = core::clock::now();
    });
    ws_.async_accept(
        request, [self = shared_from_this()](beast::error_code error) { self->on_accept(error); });
}

void websocket_session::on_accept(beast::error_code error) {
    auto& m = metrics::global();
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
    queue_write(codec::encode_response(refusal, codec::wire_format::protobuf), false);
}

void websocket_session::do_read() {
    if (closing_ || waiting_for_room_) return;
    // A read waits as long as the peer likes (the pinger judges liveness).
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code error, std::size_t) {
        self->on_read(error);
    });
}

void websocket_session::on_read(beast::error_code error) {
    if (error) {
        // Closed by the peer, a frame over the size limit (Beast closes with
        // 1009), a reset or our own abort: in-flight acks have nowhere to go.
        closed_ = true;
        release();
        return;
    }
    last_heard_ = core::clock::now();
    const auto format = ws_.got_text() ? codec::wire_format::json : codec::wire_format::protobuf;
    const auto data = buffer_.cdata();
    handle_message({static_cast<const char*>(data.data()), data.size()}, format);
    buffer_.consume(buffer_.size());
    // The next read reserves Beast's read size again at once, so only a buffer
    // a large message grew is given back; a busy connection keeps its own.
    if (buffer_.capacity() > kept_buffer_bytes) buffer_.shrink_to_fit();
    do_read();
}

void websocket_session::handle_message(std::string_view message, codec::wire_format format) {
    auto decoded = codec::decode_request(message, format);
    if (!decoded) {
        core::count_batch_failed(identity_.group, "serde");
        core::request_error_log().warn("websocket {} (group {}): bad message: {}", identity_.id,
                                       identity_.group, decoded.error().reason);
        return queue_write(codec::encode_response(
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
            return queue_write(codec::encode_response(codec::response_for({}, b->req_guid), format),
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
        net::post(self->ws_.get_executor(), [self, result, guid = std::move(guid), format] {
            self->on_batch_done(result, guid, format);
        });
    });
    ++batches_in_flight_;
    waiting_for_room_ = std::move(b);
    offer_batch();
}

void websocket_session::offer_batch() {
    auto on_room = [self = shared_from_this()] {
        net::post(self->ws_.get_executor(), [self] {
            self->offer_batch();
            if (!self->waiting_for_room_) self->last_heard_ = core::clock::now();
            self->do_read();
        });
    };
    context_->submit(waiting_for_room_, std::move(on_room), ws_.get_executor());
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
    const auto response = codec::response_for(result, req_guid);
    queue_write(codec::encode_response(response, format), format == codec::wire_format::json);
    for (auto repeat : repeats) {
        queue_write(codec::encode_response(response, repeat), repeat == codec::wire_format::json);
    }
    if (closing_) close_when_done();
}

void websocket_session::queue_write(std::string payload, bool text) {
    if (closed_) return;
    if (writes_.size() - next_write_ >= context_->settings.websocket_max_queued_acks) {
        // The client sends but does not read its acks: holding more would let
        // it grow the server's memory without bound.
        spdlog::debug("websocket {}: {} acks unread, closing", identity_.id,
                      writes_.size() - next_write_);
        return abort();
    }
    writes_.push_back({std::move(payload), text});
    if (!writing_) do_write();
}

void websocket_session::do_write() {
    if (next_write_ == writes_.size()) {
        writes_.clear();
        if (writes_.capacity() > kept_queued_writes) writes_.shrink_to_fit();
        next_write_ = 0;
        if (closing_) close_when_done();
        return;
    }
    writing_ = true;
    auto& next = writes_[next_write_];
    ws_.text(next.text);
    ws_.async_write(net::buffer(next.payload),
                    [self = shared_from_this()](beast::error_code error, std::size_t) {
                        self->on_write(error);
                    });
    start_send();
}

void websocket_session::on_write(beast::error_code error) {
    writing_ = false;
    end_send();
    if (error) {
        // Includes a write aborted by its deadline (arm_send_deadline()).
        closed_ = true;
        return abort();
    }
    ++next_write_;
    do_write();
}

void websocket_session::on_ping_due() {
    net::dispatch(ws_.get_executor(), [self = shared_from_this()] { self->ping_if_alive(); });
}

void websocket_session::ping_if_alive() {
    // While reading is paused for backpressure the peer's pongs sit unread:
    // its silence is ours, not a sign it is gone.
    if (closed_ || waiting_for_room_) return;
    const auto silent_for = core::clock::now() - last_heard_;
    if (silent_for > context_->settings.websocket_pong_wait_interval) {
        metrics::global().server_pong_failure_total.with({identity_.group}).add();
        spdlog::debug("websocket {}: no pong for {} ms, closing", identity_.id,
                      std::chrono::duration_cast<std::chrono::milliseconds>(silent_for).count());
        return abort();
    }
    if (ping_in_flight_) return;
    ping_in_flight_ = true;
    ws_.async_ping({}, [self = shared_from_this()](beast::error_code error) {
        self->end_send();
        if (!error) return;
        metrics::global().server_ping_failure_total.with({self->identity_.group}).add();
        self->abort();
    });
    start_send();
}

void websocket_session::start_send() {
    if (sends_in_progress_++ > 0) return;
    // Called right after the send started. Nearly every ack fits in the
    // socket at once, and Asio then queues its completion on this loop as the
    // send starts (never running it inline): ahead of the check posted here.
    // Only a send still under way when the check runs gets a deadline, rather
    // than every send arming and cancelling the stream's timers.
    net::post(ws_.get_executor(), [self = shared_from_this(), send = ++sends_started_] {
        self->arm_send_deadline(send);
    });
}

void websocket_session::arm_send_deadline(std::uint64_t send) {
    // Not skipped once closed_: a peer that half-closed (a read error) or a
    // close waiting behind a ping may leave a send stalled on an open socket.
    if (sends_in_progress_ == 0 || send != sends_started_) return;
    send_deadline_armed_ = true;
    send_deadline_.expires_after(context_->settings.websocket_write_wait_interval);
    send_deadline_.async_wait([self = shared_from_this(), send](beast::error_code error) {
        if (error || self->sends_in_progress_ == 0 || send != self->sends_started_) return;
        spdlog::debug("websocket {}: a write stalled for {} ms, closing", self->identity_.id,
                      self->context_->settings.websocket_write_wait_interval.count());
        self->abort();
    });
}

void websocket_session::end_send() {
    if (--sends_in_progress_ > 0 || !send_deadline_armed_) return;
    send_deadline_armed_ = false;
    send_deadline_.cancel();
}

void websocket_session::shutdown() {
    net::dispatch(ws_.get_executor(), [self = shared_from_this()] {
        self->closing_ = true;
        self->close_when_done();
    });
}

void websocket_session::close_when_done() {
    if (closed_ || writing_ || batches_in_flight_ > 0 || next_write_ < writes_.size()) return;
    const bool refused = !admitted_;
    close(refused ? websocket::close_reason(websocket::close_code::policy_error)
                  : websocket::close_reason(websocket::close_code::going_away));
}

void websocket_session::close(websocket::close_reason reason) {
    closed_ = true;
    ws_.async_close(reason, [self = shared_from_this()](beast::error_code error) {
        if (error) metrics::global().conn_close_err_count.with({}).add();
        beast::error_code ignored;
        self->ws_.next_layer().close(ignored);
        self->release();
    });
}

void websocket_session::abort() {
    closed_ = true;
    release();
    beast::error_code ignored;
    ws_.next_layer().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    ws_.next_layer().close(ignored);
}

}  // namespace raccoon::server::http
