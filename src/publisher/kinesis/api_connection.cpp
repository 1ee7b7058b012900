#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <raccoon/publisher/kinesis/api_connection.hpp>
#include <utility>

namespace raccoon::publisher::kinesis {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view target_prefix = "Kinesis_20131202.";
// Kinesis answers PutRecords of 500 records in a few kilobytes; anything far
// bigger is not Kinesis.
constexpr std::uint64_t max_response_bytes = 8 * 1024 * 1024;

class signed_connection final : public api_connection {
 public:
    signed_connection(endpoint at, sigv4::credentials credentials, std::string region,
                      std::shared_ptr<asio::ssl::context> tls)
        : at_(std::move(at)),
          credentials_(std::move(credentials)),
          region_(std::move(region)),
          tls_(std::move(tls)) {}

    api_reply call(std::string_view operation, const std::string& body,
                   std::chrono::milliseconds timeout) override {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        http::request<http::string_body> request = make_request(operation, body);
        // A kept connection the server closed meanwhile fails at once: one
        // more try on a new connection.
        for (int attempt = 0; attempt < 2; ++attempt) {
            const bool reused = connected();
            beast::error_code error;
            if (!reused) error = connect(deadline);
            if (!error) {
                http::response<http::string_body> response;
                error = exchange(request, response, deadline);
                if (!error) {
                    if (!response.keep_alive()) close();
                    return {
                        static_cast<int>(response.result_int()), std::move(response.body()), {}};
                }
            }
            close();
            if (!reused || error == beast::error::timeout) {
                return {0, {}, describe(error)};
            }
        }
        return {0, {}, "the connection closed"};
    }

 private:
    http::request<http::string_body> make_request(std::string_view operation,
                                                  const std::string& body) {
        sigv4::request unsigned_request{
            .method = "POST",
            .path = "/",
            .query = "",
            .headers = {{"Host", at_.host_header},
                        {"Content-Type", "application/x-amz-json-1.1"},
                        {"X-Amz-Target", std::string(target_prefix) + std::string(operation)}},
            .payload = body};
        const std::string authorization = sigv4::sign(unsigned_request, credentials_, region_,
                                                      "kinesis", std::chrono::system_clock::now());
        http::request<http::string_body> request{http::verb::post, "/", 11};
        for (const auto& [name, value] : unsigned_request.headers) request.set(name, value);
        request.set(http::field::authorization, authorization);
        request.set(http::field::user_agent, "raccoon");
        request.keep_alive(true);
        request.body() = std::move(unsigned_request.payload);
        request.prepare_payload();
        return request;
    }

    bool connected() const { return plain_.has_value() || secure_.has_value(); }

    beast::tcp_stream& transport() { return plain_ ? *plain_ : beast::get_lowest_layer(*secure_); }

    void close() {
        beast::error_code ignored;
        if (plain_) plain_->socket().close(ignored);
        if (secure_) beast::get_lowest_layer(*secure_).socket().close(ignored);
        plain_.reset();
        secure_.reset();
        buffer_.clear();
    }

    // Runs the io_context until the started operation completes; the
    // stream's expiry closes it at the deadline, so this is bounded.
    beast::error_code run(beast::error_code& result) {
        io_.restart();
        io_.run();
        return result;
    }

    beast::error_code connect(std::chrono::steady_clock::time_point deadline) {
        beast::error_code result = asio::error::would_block;
        tcp::resolver resolver(io_);
        tcp::resolver::results_type addresses;
        resolver.async_resolve(at_.host, at_.port,
                               [&](beast::error_code error, tcp::resolver::results_type found) {
                                   result = error;
                                   addresses = std::move(found);
                               });
        if (run(result)) return result;
        if (at_.tls) {
            secure_.emplace(io_, *tls_);
        } else {
            plain_.emplace(io_);
        }
        transport().expires_at(deadline);
        result = asio::error::would_block;
        transport().async_connect(
            addresses, [&](beast::error_code error, const tcp::endpoint&) { result = error; });
        if (run(result) || !at_.tls) return result;
        // SNI, and the certificate's names checked against the host.
        if (SSL_set_tlsext_host_name(secure_->native_handle(), at_.host.c_str()) != 1) {
            return {static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()};
        }
        secure_->set_verify_callback(asio::ssl::host_name_verification(at_.host));
        result = asio::error::would_block;
        secure_->async_handshake(asio::ssl::stream_base::client,
                                 [&](beast::error_code error) { result = error; });
        return run(result);
    }

    beast::error_code exchange(http::request<http::string_body>& request,
                               http::response<http::string_body>& response,
                               std::chrono::steady_clock::time_point deadline) {
        transport().expires_at(deadline);
        beast::error_code result = asio::error::would_block;
        auto on_done = [&](beast::error_code error, std::size_t) { result = error; };
        if (plain_) {
            http::async_write(*plain_, request, on_done);
        } else {
            http::async_write(*secure_, request, on_done);
        }
        if (run(result)) return result;
        http::response_parser<http::string_body> parser;
        parser.body_limit(max_response_bytes);
        result = asio::error::would_block;
        if (plain_) {
            http::async_read(*plain_, buffer_, parser, on_done);
        } else {
            http::async_read(*secure_, buffer_, parser, on_done);
        }
        if (run(result)) return result;
        response = parser.release();
        transport().expires_never();
        return {};
    }

    std::string describe(const beast::error_code& error) const {
        if (error == beast::error::timeout) return "no answer from " + at_.url() + " in time";
        return error.message() + " (" + at_.url() + ")";
    }

    const endpoint at_;
    const sigv4::credentials credentials_;
    const std::string region_;
    std::shared_ptr<asio::ssl::context> tls_;
    asio::io_context io_{1};
    std::optional<beast::tcp_stream> plain_;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure_;
    beast::flat_buffer buffer_;
};

}  // namespace

connection_factory signed_connections(endpoint at, sigv4::credentials credentials,
                                      std::string region) {
    auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    tls->set_default_verify_paths();
    tls->set_verify_mode(asio::ssl::verify_peer);
    return [at = std::move(at), credentials = std::move(credentials), region = std::move(region),
            tls = std::move(tls)] {
        return std::make_unique<signed_connection>(at, credentials, region, tls);
    };
}

}  // namespace raccoon::publisher::kinesis
