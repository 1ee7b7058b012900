#pragma once

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <raccoon/codec/codec.hpp>
#include <raccoon/core/batch.hpp>
#include <raccoon/server/http/websocket_frames.hpp>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
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
    void on_accept(boost::beast::error_code error);
    void refuse(codec::response_code code, std::string reason);
    // Handles what is buffered, then reads more unless paused or closing.
    void do_read();
    void on_read(boost::beast::error_code error, std::size_t bytes);
    // Handles the buffered frames until they run out or reading pauses.
    void handle_input();
    // Reserves the most the message's batch can cost, then decodes it; or
    // keeps it until the bytes are held.
    void handle_message(std::string_view message, codec::wire_format format);
    void decode_message(std::string_view message, codec::wire_format format);
    void offer_batch();
    void on_batch_done(const core::batch_result& result, const std::string& req_guid,
                       codec::wire_format format);
    // Queues an ack (closing the connection when the peer leaves too many
    // unread), then writes what is queued.
    void send_ack(std::string_view payload, bool text);
    void queue_ack(std::string_view payload, bool text);
    // Hands the outgoing frames to the socket: at once when it takes them,
    // else by an asynchronous write under the write wait.
    void flush();
    void on_flush(boost::beast::error_code error);
    void on_flushed();
    void ping_if_alive();
    void arm_deadline();
    void close_when_done();
    // Sends a close frame; the connection ends when the peer answers it or
    // the write wait passes.
    void send_close(std::uint16_t code);
    // The peer's close, or its breach of the protocol: answered with a close
    // of `code` (unless ours went first), then the connection ends.
    void close_in_answer(std::uint16_t code, std::string_view reason);
    // Sends the close that answers the peer once every batch it sent is acked.
    void answer_close_when_acked();
    // Ends the connection once the outgoing frames are written.
    void end_after_flush();
    // After our last frame: half-closes, and closes once the peer has.
    void tear_down();
    void discard_until_end();
    void abort();
    // Frees the identity and the pinger slot; once, from the loop or the
    // destructor.
    void release();

    connection_socket socket_;
    // Only for the upgrade, then released: the frames after it are ours.
    std::optional<boost::beast::websocket::stream<connection_socket&>> handshake_;
    std::shared_ptr<server_context> context_;
    core::connection_identity identity_;

    bool admitted_ = false;
    bool released_ = false;
    std::size_t pinger_slot_ = 0;
    core::clock::time_point last_heard_;
    core::clock::time_point ping_sent_at_;
    core::clock::time_point admitted_at_;
    bool ping_in_flight_ = false;

    // Bytes read and not yet handled: [input_begin_, input_end_) of input_.
    websocket_frames::reader frames_;
    std::unique_ptr<char[]> input_;
    std::size_t input_capacity_ = 0;
    std::size_t input_begin_ = 0;
    std::size_t input_end_ = 0;
    // The bytes the frame at input_begin_ needs, once its header is read.
    std::size_t next_frame_bytes_ = 0;
    bool reading_ = false;
    bool handling_input_ = false;

    // Frames not yet handed to the socket, and those an asynchronous write
    // is handing over; acks among them, for SERVER_WEBSOCKET_MAX_QUEUED_ACKS.
    std::string outgoing_;
    std::string sending_;
    bool sending_async_ = false;
    std::size_t outgoing_acks_ = 0;
    std::size_t sending_acks_ = 0;
    // The answer to the peer's latest ping while a write is under way.
    bool pong_pending_ = false;
    std::string pong_payload_;
    // SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS bounds a write the socket did
    // not take at once, and the close handshake.
    bool deadline_armed_ = false;
    // Tells a deadline's handler whether it is still the one armed.
    std::uint64_t deadlines_armed_ = 0;
    boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                      boost::asio::wait_traits<std::chrono::steady_clock>,
                                      connection_executor>
        deadline_;

    // The batch of the message being read, waiting for room: empty while its
    // bytes are reserved (the message kept in message_waiting_), decoded
    // while the channel is full. Reading stops meanwhile.
    std::unique_ptr<core::batch> waiting_for_room_;
    std::string message_waiting_;
    // Batches handed to the channel whose ack is not yet queued.
    std::size_t batches_in_flight_ = 0;

    // SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED: guids being delivered, with the
    // formats of the repeats waiting for their result, and guids delivered.
    std::unordered_map<std::string, std::vector<codec::wire_format>> guids_in_flight_;
    // A list, not a deque: libstdc++'s empty deque allocates 576 bytes, paid
    // by every idle connection even with dedup off.
    std::list<std::string> guids_delivered_order_;
    std::unordered_set<std::string> guids_delivered_;

    // closing_: draining, no new requests. closed_: nothing more is sent
    // but a close frame. close_sent_: waiting for the peer's answer to ours.
    // ending_: the connection ends once the outgoing frames are written;
    // tearing_down_: they are, and the peer's end of stream is awaited.
    bool closing_ = false;
    bool closed_ = false;
    bool close_sent_ = false;
    bool ending_ = false;
    bool tearing_down_ = false;
    // The code and reason of the close that answers the peer's close or its
    // breach, sent when the acks still in flight are.
    std::optional<std::pair<std::uint16_t, std::string>> close_to_answer_;
};

}  // namespace raccoon::server::http
