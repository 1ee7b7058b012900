#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <raccoon/metrics/exposition.hpp>
#include <raccoon/server/http/metrics_server.hpp>

namespace raccoon::server::http {

namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
namespace net = boost::asio;

namespace {

// A scraper that stops talking is dropped after this long.
constexpr auto scrape_timeout = std::chrono::seconds(30);
// A scrape is a bodiless GET: anything larger is not one.
constexpr std::size_t max_request_bytes = 16 * 1024;

class scrape_session : public std::enable_shared_from_this<scrape_session> {
 public:
    using renderer = std::function<std::string()>;

    scrape_session(net::ip::tcp::socket socket, std::string path,
                   std::shared_ptr<const renderer> render)
        : stream_(std::move(socket)), path_(std::move(path)), render_(std::move(render)) {}

    void start() { do_read(); }

 private:
    void do_read() {
        parser_.emplace();
        parser_->header_limit(max_request_bytes);
        parser_->body_limit(max_request_bytes);
        stream_.expires_after(scrape_timeout);
        beast_http::async_read(stream_, buffer_, *parser_,
                               [self = shared_from_this()](beast::error_code error, std::size_t) {
                                   self->on_read(error);
                               });
    }

    void on_read(beast::error_code error) {
        if (error) return close();
        const auto& req = parser_->get();
        const std::string_view target = req.target();
        const bool get =
            req.method() == beast_http::verb::get || req.method() == beast_http::verb::head;
        response_ = {};
        response_.version(req.version());
        if (get && target.substr(0, target.find('?')) == path_) {
            response_.result(beast_http::status::ok);
            response_.set(beast_http::field::content_type, metrics::prometheus_content_type);
            response_.body() = (*render_)();
        } else {
            response_.result(get ? beast_http::status::not_found
                                 : beast_http::status::method_not_allowed);
            response_.set(beast_http::field::content_type, "text/plain");
            response_.body() = "metrics are at GET " + path_ + "\n";
        }
        const bool keep_alive = req.keep_alive();
        response_.keep_alive(keep_alive);
        response_.prepare_payload();
        if (req.method() == beast_http::verb::head) response_.body().clear();
        beast_http::async_write(
            stream_, response_,
            [self = shared_from_this(), keep_alive](beast::error_code e, std::size_t) {
                if (e || !keep_alive) return self->close();
                self->do_read();
            });
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
        stream_.socket().close(ignored);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
    beast_http::response<beast_http::string_body> response_;
    const std::string path_;
    const std::shared_ptr<const renderer> render_;
};

}  // namespace

struct metrics_server::state : std::enable_shared_from_this<metrics_server::state> {
    state(net::io_context& io, net::ip::tcp::endpoint endpoint, std::string path,
          std::function<std::string()> render)
        : io(io),
          acceptor(net::make_strand(io)),
          endpoint(endpoint),
          path(std::move(path)),
          render(std::make_shared<const scrape_session::renderer>(std::move(render))) {}

    void do_accept() {
        acceptor.async_accept(
            net::make_strand(io),
            [self = shared_from_this()](beast::error_code error, net::ip::tcp::socket socket) {
                if (error == net::error::operation_aborted || !self->acceptor.is_open()) return;
                if (!error) {
                    std::make_shared<scrape_session>(std::move(socket), self->path, self->render)
                        ->start();
                }
                self->do_accept();
            });
    }

    net::io_context& io;
    net::ip::tcp::acceptor acceptor;
    net::ip::tcp::endpoint endpoint;
    const std::string path;
    // Shared with the sessions, which may outlive the server by a scrape.
    const std::shared_ptr<const scrape_session::renderer> render;
};

metrics_server::metrics_server(net::io_context& io, const std::string& bind_address,
                               std::uint16_t port, std::string path,
                               std::function<std::string()> render)
    : state_(std::make_shared<state>(
          io, net::ip::tcp::endpoint(net::ip::make_address(bind_address), port), std::move(path),
          std::move(render))) {}

metrics_server::~metrics_server() { stop(); }

void metrics_server::start() {
    auto& acceptor = state_->acceptor;
    acceptor.open(state_->endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(state_->endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    state_->do_accept();
}

std::uint16_t metrics_server::port() const { return state_->acceptor.local_endpoint().port(); }

void metrics_server::stop() {
    net::post(state_->acceptor.get_executor(), [s = state_] {
        beast::error_code ignored;
        s->acceptor.close(ignored);
    });
}

}  // namespace raccoon::server::http
