#pragma once

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <raccoon/codec/codec.hpp>
#include <raccoon/core/batch.hpp>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pinger.hpp"
#include "server_context.hpp"

namespace raccoon::server::http {

// One WebSocket connection of an app user: a binary message is a protobuf
// SendEventRequest, a text message a JSON one; each is answered with a
// SendEventResponse of the same message type. Acks may come out of order
// under EVENT_ACK=1. Handlers run on the connection's loop.
class websocket_session : public connection,
                          public ping_target,
                          public std::enable_shared_from_this<websocket_session> {
 public:
    using upgrade_request = boost::beast::http::request<boost::beast::http::string_body>;

    websocket_session(connection_socket&& socket, std::shared_ptr<server_context> context,
                      core::connection_identity identity);
    ~websocket_session() override;

    // Completes the upgrade, then admits the connection or refuses it.
    void start(upgrade_request request);

    void on_ping_due() override;

    // Acks what was read, then closes with 1001 (going away).
    void shutdown() override;

 private:
    struct pending_write {
        std::string payload;
        bool text;
    };

    void on_accept(boost::beast::error_code error);
    void refuse(codec::response_code code, std::string reason);
    void do_read();
    void on_read(boost::beast::error_code error);
    void handle_message(std::string_view message, codec::wire_format format);
    void offer_batch();
    void on_batch_done(const core::batch_result& result, const std::string& req_guid,
                       codec::wire_format format);
    void queue_write(std::string payload, bool text);
    void do_write();
    void on_write(boost::beast::error_code error);
    void ping_if_alive();
    void start_send();
    void arm_send_deadline(std::uint64_t send);
    void end_send();
    void close_when_done();
    void close(boost::beast::websocket::close_reason reason);
    void abort();
    // Frees the identity and the pinger slot; once, from the loop or the
    // destructor.
    void release();

    boost::beast::websocket::stream<connection_socket> ws_;
    boost::beast::flat_buffer buffer_;
    std::shared_ptr<server_context> context_;
    core::connection_identity identity_;

    bool admitted_ = false;
    bool released_ = false;
    std::size_t pinger_slot_ = 0;
    core::clock::time_point last_heard_;
    core::clock::time_point admitted_at_;
    bool ping_in_flight_ = false;
    // Writes and pings under way. SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS
    // bounds how long they may stay so; the deadline is armed only for a send
    // the socket did not take at once (see start_send()).
    int sends_in_progress_ = 0;
    // Counts the times sends_in_progress_ left 0: which stretch of sending a
    // deadline belongs to.
    std::uint64_t sends_started_ = 0;
    bool send_deadline_armed_ = false;
    boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                      boost::asio::wait_traits<std::chrono::steady_clock>,
                                      connection_executor>
        send_deadline_;

    // The batch waiting for room in the channel; reading stops meanwhile.
    std::unique_ptr<core::batch> waiting_for_room_;
    // Batches handed to the channel whose ack is not yet queued.
    std::size_t batches_in_flight_ = 0;

    std::vector<pending_write> writes_;
    std::size_t next_write_ = 0;
    bool writing_ = false;

    // SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED: guids being delivered, with the
    // formats of the repeats waiting for their result, and guids delivered.
    std::unordered_map<std::string, std::vector<codec::wire_format>> guids_in_flight_;
    // A list, not a deque: libstdc++'s empty deque allocates 576 bytes, paid
    // by every idle connection even with dedup off.
    std::list<std::string> guids_delivered_order_;
    std::unordered_set<std::string> guids_delivered_;

    bool closing_ = false;
    bool closed_ = false;
};

}  // namespace raccoon::server::http
