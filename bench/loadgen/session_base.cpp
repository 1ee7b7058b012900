#include "session_base.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address_v4.hpp>

#include "messages.hpp"

namespace raccoon::loadgen {

namespace net = boost::asio;

session_base::session_base(run_state& run, std::size_t index, net::io_context& io)
    : strand_(net::make_strand(io)),
      run_(run),
      index_(index),
      id_(run.opts.id_prefix + std::to_string(index)),
      timer_(strand_) {}

std::string session_base::source_address() const {
    const auto& sources = run_.opts.source_addresses;
    if (sources.empty()) return {};
    return net::ip::address_v4(sources[index_ % sources.size()]).to_string();
}

void session_base::start(std::function<void(bool)> on_ready, std::function<void()> on_done) {
    on_ready_ = std::move(on_ready);
    on_done_ = std::move(on_done);
    net::dispatch(strand_, [self = shared_from_this()] { self->do_start(); });
}

void session_base::connected(bool ok, std::string_view what) {
    if (!ok) {
        ++run_.local().transport_errors[std::string(what)];
        run_.connect_failed.fetch_add(1, std::memory_order_relaxed);
        closing_ = true;
        abort_transport();
        on_ready_(false);
        closed();
        return;
    }
    up_ = true;
    run_.connected.fetch_add(1, std::memory_order_relaxed);
    on_ready_(true);
}

void session_base::begin() {
    net::dispatch(strand_, [self = shared_from_this()] {
        if (!self->up_ || self->closing_ || self->began_) return;
        self->began_ = true;
        const auto& opts = self->run_.opts;
        if (opts.idle) return;
        if (opts.rate > 0) {
            // This connection's share of the rate, its first send staggered
            // so the connections do not fire in lockstep.
            const double period_s = static_cast<double>(opts.connections) / opts.rate;
            self->interval_ = std::chrono::duration_cast<clock::duration>(
                std::chrono::duration<double>(period_s));
            self->next_due_ = self->run_.start_sending + self->interval_ *
                                                             static_cast<long>(self->index_) /
                                                             static_cast<long>(opts.connections);
            self->schedule_next();
        } else {
            self->fill_window();
        }
    });
}

void session_base::stop() {
    net::dispatch(strand_, [self = shared_from_this()] {
        self->stopping_ = true;
        self->timer_.cancel();
        self->close_if_done();
    });
}

void session_base::finish() {
    net::dispatch(strand_, [self = shared_from_this()] {
        self->stopping_ = true;
        self->timer_.cancel();
        if (self->done_) return;
        if (!self->closing_ && self->up_) {
            self->closing_ = true;
            self->close_transport();
        } else {
            // Still connecting, or a polite close that hangs: cut it.
            self->closing_ = true;
            self->abort_transport();
        }
    });
}

bool session_base::may_send() const {
    const auto& opts = run_.opts;
    return !stopping_ && !closing_ && (opts.requests == 0 || next_request_ < opts.requests);
}

void session_base::send_one(clock::time_point sent_at) {
    const auto& opts = run_.opts;
    const std::uint64_t request = next_request_++;
    std::string guid = request_guid(opts, index_, request);
    std::string message = encode_request(opts, guid, request);
    const auto entry = pending_
                           .emplace(std::move(guid),
                                    in_flight{sent_at, static_cast<std::uint32_t>(opts.batch_size),
                                              sent_at >= run_.measure_start})
                           .first;
    stats& s = run_.local();
    ++s.requests_sent;
    s.events_sent += opts.batch_size;
    run_.sent.fetch_add(1, std::memory_order_relaxed);
    transmit(std::move(message), entry->first);
}

void session_base::fill_window() {
    while (may_send() && pending_.size() < run_.opts.window) send_one(clock::now());
    close_if_done();
}

void session_base::schedule_next() {
    if (!may_send()) {
        stopping_ = true;
        return close_if_done();
    }
    timer_.expires_at(next_due_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
        if (!error) self->on_timer();
    });
}

void session_base::on_timer() {
    // Latency counts from when the request was due, not when it went out, so
    // a stalled client or server cannot hide its delay (coordinated omission).
    const auto now = clock::now();
    while (may_send() && next_due_ <= now) {
        if (next_due_ >= run_.measure_start) {
            run_.local().schedule_lag.record(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now - next_due_).count()));
        }
        send_one(next_due_);
        next_due_ += interval_;
    }
    schedule_next();
}

void session_base::on_answer(std::string_view message, wire_format format, unsigned http_status) {
    const auto now = clock::now();
    stats& s = run_.local();
    const auto decoded = decode_ack(message, format);
    if (!decoded) {
        ++s.bad_acks;
        return;
    }
    if (run_.opts.print_acks) run_.print_ack(*decoded);
    // An answer comes in its request's format; only a connection refusal is
    // always protobuf.
    const bool same_format = format == run_.opts.format;
    const bool success = decoded->status == 1 && same_format &&  // STATUS_SUCCESS
                         (http_status == 0 || http_status == 200);
    auto count_code = [&] {
        const auto code = static_cast<std::size_t>(decoded->code);
        ++s.error_codes[code < s.error_codes.size() - 1 ? code : s.error_codes.size() - 1];
    };

    auto it = pending_.find(decoded->req_guid);
    if (it == pending_.end()) {
        if (decoded->req_guid.empty() && decoded->status != 1) {
            // The upstream refusal of a connection: an error with no data.
            ++s.refusals;
            count_code();
        } else {
            ++s.unmatched_acks;
        }
        return;
    }
    if (!same_format) ++s.bad_acks;
    const in_flight request = it->second;
    pending_.erase(it);
    run_.acks.fetch_add(1, std::memory_order_relaxed);
    if (success) {
        ++s.acks_ok;
        s.events_acked_ok += request.events;
    } else {
        ++s.acks_error;
        count_code();
    }
    if (request.measured) {
        ++s.measured_acks;
        if (success) s.measured_events += request.events;
        s.last_measured_ack = std::max(s.last_measured_ack, now);
        s.latency.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - request.sent).count()));
    }
    if (began_ && run_.opts.rate <= 0) return fill_window();
    close_if_done();
}

void session_base::on_no_answer(std::string_view req_guid, std::string_view what) {
    auto it = pending_.find(std::string(req_guid));
    if (it == pending_.end()) return;
    pending_.erase(it);
    stats& s = run_.local();
    ++s.acks_error;
    ++s.transport_errors[std::string(what)];
    run_.acks.fetch_add(1, std::memory_order_relaxed);
    if (began_ && run_.opts.rate <= 0) return fill_window();
    close_if_done();
}

void session_base::close_if_done() {
    if (closing_ || !pending_.empty()) return;
    if (!stopping_ && !(began_ && !may_send() && !run_.opts.idle)) return;
    closing_ = true;
    timer_.cancel();
    close_transport();
}

void session_base::failed(std::string_view what) {
    if (closing_ || done_) return;
    ++run_.local().transport_errors[std::string(what)];
    run_.lost.fetch_add(1, std::memory_order_relaxed);
    closing_ = true;
    timer_.cancel();
    abort_transport();
    closed();
}

void session_base::closed() {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    // The callbacks hold the runner, which holds this session: let go.
    auto on_done = std::move(on_done_);
    on_done_ = nullptr;
    on_ready_ = nullptr;
    on_done();
}

}  // namespace raccoon::loadgen
