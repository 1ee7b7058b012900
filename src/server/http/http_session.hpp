#pragma once

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <raccoon/codec/codec.hpp>
#include <raccoon/core/batch.hpp>

#include "server_context.hpp"

namespace raccoon::server::http {

// One HTTP/1.1 connection: reads a request, answers it, and reads the next
// while keep-alive holds. Its handlers run on the connection's loop; acks
// from delivery threads are posted to it. One request is in progress at a
// time, which is what stops reading while the channel is full.
class http_session : public connection, public std::enable_shared_from_this<http_session> {
 public:
    http_session(connection_socket socket, std::shared_ptr<server_context> context);
    ~http_session() override;

    void start();

    void shutdown() override;

 private:
    using request = boost::beast::http::request<boost::beast::http::string_body>;
    using response = boost::beast::http::response<boost::beast::http::string_body>;

    void do_read();
    // Reads until the request's head is whole, checking its raw lines, then
    // lets Beast read the request.
    void read_head();
    void read_message();
    void on_read(boost::beast::error_code error);
    void handle_request();
    void handle_events();
    void handle_upgrade(const request& req);
    void answer_plain(boost::beast::http::status status, std::string body);
    void offer_batch();
    void answer_events(const core::batch_result& result, const std::string& req_guid);
    void answer(const core::batch_result& result, const codec::response& answer);
    // Counts and logs a request refused before it became a batch, then answers it.
    void refuse_events(std::string_view conn_group, std::string_view reason,
                       const core::batch_result& result, const std::string& req_guid);
    void answer_readiness();
    std::string peer() const;
    void answer_parse_error(boost::beast::error_code error);
    // Refuses a request whose framing is ambiguous, then closes.
    void refuse_framing(std::string_view problem);
    void refuse_unread(const core::batch_result& result, std::string_view reason);
    void write(response&& res);
    void on_write(bool close, boost::beast::error_code error);
    void close_after_draining_input();
    void close();

    connection_stream stream_;
    boost::beast::flat_buffer buffer_;
    std::shared_ptr<server_context> context_;
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
    response response_;

    // The request being answered.
    bool busy_ = false;
    bool keep_alive_ = false;
    codec::wire_format format_ = codec::wire_format::json;
    // The batch of the request being read: empty while its bytes are
    // reserved, decoded while the channel has no room for it.
    std::unique_ptr<core::batch> waiting_for_room_;
};

}  // namespace raccoon::server::http
