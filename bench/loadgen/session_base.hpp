#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "loadgen.hpp"

namespace raccoon::loadgen {

// What every session does whatever its transport: the sending plan (closed
// loop with a window, open loop at a rate, or idle), the requests in flight
// by req_guid, and the accounting of each answer. A transport derives and
// moves bytes. Everything below runs on strand_.
class session_base : public session, public std::enable_shared_from_this<session_base> {
 public:
    session_base(run_state& run, std::size_t index, boost::asio::io_context& io);

    void start(std::function<void(bool)> on_ready, std::function<void()> on_done) final;
    void begin() final;
    void stop() final;
    void finish() final;
    std::size_t unacked() const final { return pending_.size(); }

 protected:
    // Opens the connection; ends by calling connected().
    virtual void do_start() = 0;
    // Puts one request on the wire (queued behind the ones not yet written).
    // `req_guid` lives until the request is answered or the session ends.
    virtual void transmit(std::string message, std::string_view req_guid) = 0;
    // Closes politely; ends by calling closed().
    virtual void close_transport() = 0;
    // Closes the socket now; pending operations end with an error.
    virtual void abort_transport() = 0;

    // The connection is up (or failed: `what` says where).
    void connected(bool ok, std::string_view what = {});
    // One answer arrived; `http_status` is 0 on a WebSocket.
    void on_answer(std::string_view message, wire_format format, unsigned http_status);
    // A request ended with no answer to match (a gRPC call with an error
    // status): an error of the transport, counted against that request.
    void on_no_answer(std::string_view req_guid, std::string_view what);
    // The connection broke; counted once, unless we were closing it anyway.
    void failed(std::string_view what);
    // The transport is closed: the session is done.
    void closed();

    bool closing() const { return closing_; }
    const options& opts() const { return run_.opts; }
    const std::string& id() const { return id_; }
    std::string source_address() const;

    boost::asio::strand<boost::asio::io_context::executor_type> strand_;

 private:
    struct in_flight {
        clock::time_point sent;
        std::uint32_t events;
        bool measured;
    };

    bool may_send() const;
    void send_one(clock::time_point sent_at);
    void fill_window();
    void schedule_next();
    void on_timer();
    void close_if_done();

    run_state& run_;
    const std::size_t index_;
    const std::string id_;
    std::function<void(bool)> on_ready_;
    std::function<void()> on_done_;

    boost::asio::steady_timer timer_;
    clock::duration interval_{};
    clock::time_point next_due_{};
    std::uint64_t next_request_ = 0;
    std::unordered_map<std::string, in_flight> pending_;

    bool up_ = false;
    bool began_ = false;
    bool stopping_ = false;
    bool closing_ = false;
    bool done_ = false;
};

}  // namespace raccoon::loadgen
