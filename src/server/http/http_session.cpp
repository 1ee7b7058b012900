#include "http_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <raccoon/core/batch_metrics.hpp>
#include <raccoon/core/error.hpp>
#include <raccoon/core/request_error_log.hpp>
#include <raccoon/metrics/catalog.hpp>

#include "events_request.hpp"
#include "request_framing.hpp"
#include "websocket_session.hpp"

namespace raccoon::server::http {

namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
namespace net = boost::asio;
namespace websocket = boost::beast::websocket;

namespace {

constexpr std::string_view events_path = "/api/v1/events";
constexpr std::string_view ping_path = "/ping";
constexpr std::string_view ready_path = "/ready";
// After refusing a request unread, how long its body may still drain so the
// client sees the answer instead of a reset.
constexpr auto lingering_close_time = std::chrono::seconds(2);
// Beast's limit on a request's head: past it, the head is Beast's to refuse.
constexpr std::size_t head_bytes_limit = 8192;
constexpr std::size_t head_read_bytes = 4096;

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// As gorilla/websocket's default check, which upstream uses: a browser's Origin
// must name the host it connects to; a client that sends none passes.
bool origin_matches_host(const beast_http::request_header<>& req) {
    auto origin = req.find(beast_http::field::origin);
    if (origin == req.end()) return true;
    std::string_view value = origin->value();
    auto scheme_end = value.find("://");
    if (scheme_end == std::string_view::npos) return false;
    std::string_view host = value.substr(scheme_end + 3);
    host = host.substr(0, host.find('/'));
    return boost::iequals(host, req[beast_http::field::host]);
}

}  // namespace

http_session::http_session(connection_socket socket, std::shared_ptr<server_context> context)
    : stream_(std::move(socket)), context_(std::move(context)) {}

http_session::~http_session() { context_->remove_connection(this); }

void http_session::start() {
    context_->add_connection(shared_from_this());
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void http_session::shutdown() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
        // A connection answering a request closes after the answer (on_write).
        if (!self->busy_) self->close();
    });
}

void http_session::do_read() {
    if (context_->draining) return close();
    parser_.emplace();
    parser_->body_limit(context_->settings.max_request_bytes);
    stream_.expires_after(context_->settings.http_idle_timeout);
    read_head();
}

void http_session::read_head() {
    const auto buffered = buffer_.cdata();
    const head_scan scan =
        scan_head(std::string_view(static_cast<const char*>(buffered.data()), buffered.size()));
    if (!scan.problem.empty()) return refuse_framing(scan.problem);
    if (scan.complete || buffered.size() >= head_bytes_limit) return read_message();
    stream_.async_read_some(
        buffer_.prepare(head_read_bytes),
        [self = shared_from_this()](beast::error_code error, std::size_t bytes) {
            self->buffer_.commit(bytes);
            // A head cut short by the peer's end is Beast's to answer.
            if (error == net::error::eof && self->buffer_.size() > 0) return self->read_message();
            if (error) return self->on_read(error);
            self->read_head();
        });
}

void http_session::read_message() {
    beast_http::async_read(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code error, std::size_t) {
                               self->on_read(error);
                           });
}

void http_session::on_read(beast::error_code error) {
    if (error == beast_http::error::end_of_stream || error == net::error::operation_aborted ||
        error == beast::error::timeout || error == net::error::connection_reset ||
        error == net::error::eof) {
        return close();
    }
    if (error) return answer_parse_error(error);
    if (auto problem = framing_problem(parser_->get()); !problem.empty()) {
        return refuse_framing(problem);
    }
    busy_ = true;
    handle_request();
}

void http_session::handle_request() {
    const request& req = parser_->get();
    keep_alive_ = req.keep_alive();
    const std::string_view path = path_of(req.target());

    if (path == events_path) {
        if (websocket::is_upgrade(req)) return handle_upgrade(req);
        if (req.method() == beast_http::verb::post) {
            waiting_for_room_ = std::make_unique<core::batch>();
            return handle_events();
        }
        if (cors_policy::is_preflight(req)) {
            response res{beast_http::status::no_content, req.version()};
            context_->cors.answer_preflight(req, res);
            return write(std::move(res));
        }
        return answer_plain(beast_http::status::method_not_allowed, "use POST\n");
    }
    if (path == ping_path &&
        (req.method() == beast_http::verb::get || req.method() == beast_http::verb::head)) {
        return answer_plain(beast_http::status::ok, "pong");
    }
    if (path == ready_path &&
        (req.method() == beast_http::verb::get || req.method() == beast_http::verb::head)) {
        return answer_readiness();
    }
    answer_plain(beast_http::status::not_found, "not found\n");
}

void http_session::answer_plain(beast_http::status status, std::string body) {
    const request& req = parser_->get();
    response res{status, req.version()};
    res.set(beast_http::field::content_type, "text/plain");
    res.body() = std::move(body);
    context_->cors.decorate(req, res);
    write(std::move(res));
}

void http_session::answer_readiness() {
    const request& req = parser_->get();
    const std::string_view not_ready = context_->readiness.not_ready_reason();
    response res{
        not_ready.empty() ? beast_http::status::ok : beast_http::status::service_unavailable,
        req.version()};
    res.set(beast_http::field::content_type, "application/json");
    res.body() = not_ready.empty()
                     ? std::string(R"({"status":"ready"})")
                     : R"({"status":"not ready","reason":")" + std::string(not_ready) + R"("})";
    context_->cors.decorate(req, res);
    write(std::move(res));
}

void http_session::handle_upgrade(const request& req) {
    const auto& settings = context_->settings;
    keep_alive_ = false;
    if (context_->draining) {
        return answer_plain(beast_http::status::service_unavailable, "shutting down\n");
    }
    auto refuse = [&](beast_http::status status, std::string why) {
        metrics::global()
            .user_connection_failure_total
            .with({identity_of(req, context_->settings).group, "ugfailure"})
            .add();
        core::request_error_log().warn("websocket: upgrade from {} refused: {}", peer(), why);
        answer_plain(status, std::move(why) + "\n");
    };
    // Without the id header the connection is its own user (connection_table),
    // as upstream upgrades it too.
    if (settings.websocket_check_origin && !origin_matches_host(req)) {
        return refuse(beast_http::status::forbidden, "origin not allowed");
    }
    busy_ = false;
    // The WebSocket takes the socket over, without this session's timers (it
    // times its own sends); this session ends with this handler.
    std::make_shared<websocket_session>(stream_.release_socket(), context_,
                                        identity_of(req, context_->settings))
        ->start(parser_->release());
}

void http_session::handle_events() {
    const request& req = parser_->get();
    auto on_room = [self = shared_from_this()] {
        net::post(self->stream_.get_executor(), [self] { self->handle_events(); });
    };
    if (!context_->reserve(*waiting_for_room_, req.body().size(), std::move(on_room))) return;
    events_request read =
        read_events_request(req, req.body(), context_->settings, context_->request_limits(),
                            std::move(waiting_for_room_));
    format_ = read.format;
    if (!read.batch) {
        const events_refusal& refusal = read.batch.error();
        return refuse_events(refusal.conn_group, refusal.metric_reason, refusal.result,
                             refusal.req_guid);
    }
    std::unique_ptr<core::batch> b = std::move(*read.batch);
    core::count_batch_read(*b);

    b->set_completion([self = shared_from_this(),
                       guid = b->req_guid](const core::batch_result& result) mutable {
        net::post(self->stream_.get_executor(),
                  [self, result, guid = std::move(guid)] { self->answer_events(result, guid); });
    });
    waiting_for_room_ = std::move(b);
    offer_batch();
}

void http_session::offer_batch() {
    auto on_room = [self = shared_from_this()] {
        net::post(self->stream_.get_executor(), [self] { self->offer_batch(); });
    };
    // Taken: the ack arrives through the batch's completion. Full: on_room
    // offers it again; meanwhile nothing more is read.
    context_->submit(waiting_for_room_, std::move(on_room), stream_.get_executor());
}

void http_session::refuse_events(std::string_view conn_group, std::string_view reason,
                                 const core::batch_result& result, const std::string& req_guid) {
    core::count_batch_failed(conn_group, reason);
    core::request_error_log().warn("rest: request from {} refused: {}", peer(), result.detail);
    answer(result, codec::refusal_for(result, req_guid));
}

std::string http_session::peer() const {
    beast::error_code error;
    const auto endpoint = stream_.socket().remote_endpoint(error);
    if (error) return "an unknown peer";
    return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

void http_session::answer_events(const core::batch_result& result, const std::string& req_guid) {
    answer(result, codec::response_for(result, req_guid));
}

void http_session::answer(const core::batch_result& result, const codec::response& answer) {
    const request& req = parser_->get();
    response res{static_cast<beast_http::status>(codec::wire_status_for(result.error).http_status),
                 req.version()};
    res.set(beast_http::field::content_type, codec::content_type_of(format_));
    res.body() = codec::encode_response(answer, format_);
    context_->cors.decorate(req, res);
    write(std::move(res));
}

void http_session::answer_parse_error(beast::error_code error) {
    if (error == beast_http::error::body_limit) {
        return refuse_unread(
            {core::make_error_code(core::errc::request_too_large),
             "body exceeds " + std::to_string(context_->settings.max_request_bytes) + " bytes"},
            "toolarge");
    }
    refuse_unread({core::make_error_code(core::errc::bad_request),
                   "malformed HTTP request: " + error.message()},
                  "malformed");
}

void http_session::refuse_framing(std::string_view problem) {
    refuse_unread({core::make_error_code(core::errc::bad_request),
                   "ambiguous HTTP framing: " + std::string(problem)},
                  "malformed");
}

void http_session::refuse_unread(const core::batch_result& result, std::string_view reason) {
    busy_ = true;
    keep_alive_ = false;
    const auto& header = parser_->get();
    format_ = codec::format_from_content_type(header[beast_http::field::content_type])
                  .value_or(codec::wire_format::json);
    core::count_batch_failed(identity_of(header, context_->settings).group, reason);
    core::request_error_log().warn("rest: request from {} refused: {}", peer(), result.detail);
    response res{static_cast<beast_http::status>(codec::wire_status_for(result.error).http_status),
                 11};
    res.set(beast_http::field::content_type, codec::content_type_of(format_));
    res.body() = codec::encode_response(codec::refusal_for(result, ""), format_);
    write(std::move(res));
}

void http_session::write(response&& res) {
    const bool close = !keep_alive_ || context_->draining;
    res.keep_alive(!close);
    res.prepare_payload();
    response_ = std::move(res);
    stream_.expires_after(context_->settings.http_idle_timeout);
    beast_http::async_write(
        stream_, response_,
        [self = shared_from_this(), close](beast::error_code error, std::size_t) {
            self->on_write(close, error);
        });
}

void http_session::on_write(bool close_after, beast::error_code error) {
    busy_ = false;
    if (error) return close();
    if (close_after) return close_after_draining_input();
    do_read();
}

void http_session::close_after_draining_input() {
    beast::error_code ignored;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
    if (parser_ && parser_->is_done()) return close();
    // The request's body may still be arriving: read and drop it for a short
    // while, so closing does not reset the connection before the client has
    // read the answer.
    stream_.expires_after(lingering_close_time);
    auto discard = std::make_shared<std::array<char, 16384>>();
    auto drain = [self = shared_from_this(), discard](auto& again, beast::error_code e,
                                                      std::size_t) -> void {
        if (e) return self->close();
        self->stream_.async_read_some(
            net::buffer(*discard),
            [self, discard, again](beast::error_code e2, std::size_t n) { again(again, e2, n); });
    };
    drain(drain, {}, 0);
}

void http_session::close() {
    beast::error_code ignored;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
}

}  // namespace raccoon::server::http
