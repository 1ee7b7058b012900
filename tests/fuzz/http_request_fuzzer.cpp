// The HTTP request path of the REST and WebSocket listener without a socket,
// as server/http/http_session reads a connection: its raw head checked as
// the bytes arrive (scan_head), Beast's parser with the body limit, the
// framing checks (framing_problem), the routing, and a POST /api/v1/events
// request read up to the batch it becomes (read_events_request); then the
// next request of a kept-alive connection.
//
// Input: the first byte sets the size of the pieces the rest arrives in.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/http/events_request.hpp"
#include "server/http/request_framing.hpp"

namespace {

namespace http = raccoon::server::http;
namespace beast_http = boost::beast::http;

// http_session's: past this, the head is Beast's to refuse.
constexpr std::size_t head_bytes_limit = 8192;
constexpr std::size_t max_requests = 16;

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "http request path: %s\n", what);
    std::abort();
}

raccoon::config::server_settings fuzz_settings() {
    raccoon::config::server_settings settings;
    settings.conn_id_header = "X-User-ID";
    settings.conn_group_header = "X-User-Group";
    settings.conn_group_default = "--default--";
    settings.max_request_bytes = 4096;
    return settings;
}

class connection {
 public:
    connection(std::string_view stream, std::size_t piece) : stream_(stream), piece_(piece) {}

    // Moves the next piece of the stream into the buffer; false at its end.
    bool arrive() {
        if (fed_ == stream_.size()) return false;
        const std::size_t n = std::min(piece_, stream_.size() - fed_);
        buffer_.append(stream_.substr(fed_, n));
        fed_ += n;
        return true;
    }

    // One request, as http_session reads it; false when the connection ends.
    bool serve_one(const raccoon::config::server_settings& settings) {
        for (;;) {
            const http::head_scan scan = http::scan_head(buffer_);
            if (!scan.problem.empty()) return false;
            if (scan.complete || buffer_.size() >= head_bytes_limit) break;
            if (!arrive()) {
                if (buffer_.empty()) return false;
                break;
            }
        }
        beast_http::request_parser<beast_http::string_body> parser;
        parser.body_limit(settings.max_request_bytes);
        boost::beast::error_code error;
        // As Beast's read: the parser is given only bytes, and more when it needs them.
        while (!parser.is_done()) {
            if (buffer_.empty() || error == beast_http::error::need_more) {
                if (!arrive()) {
                    // At the peer's end of stream: the answer to what was read, or none.
                    if (!parser.got_some()) return false;
                    error = {};
                    parser.put_eof(error);
                    if (error) return false;
                    if (!parser.is_done()) broken("done at the end of stream, yet not done");
                    break;
                }
            }
            const std::size_t used = parser.put(boost::asio::buffer(buffer_), error);
            if (used > buffer_.size()) broken("the parser used more than it had");
            buffer_.erase(0, used);
            if (error && error != beast_http::error::need_more) return false;
        }
        const auto& request = parser.get();
        if (!http::framing_problem(request).empty()) return false;
        const std::string_view target = request.target();
        const std::string_view path = target.substr(0, target.find('?'));
        if (path == "/api/v1/events") {
            if (boost::beast::websocket::is_upgrade(request)) return false;
            if (request.method() == beast_http::verb::post) read_events(request, settings);
        }
        return request.keep_alive();
    }

 private:
    static void read_events(const beast_http::request<beast_http::string_body>& request,
                            const raccoon::config::server_settings& settings) {
        if (request.body().size() > settings.max_request_bytes) broken("a body over the limit");
        const auto read = http::read_events_request(request, request.body(), settings,
                                                    {.max_events = 8, .max_req_guid_bytes = 64});
        if (read.batch) {
            if ((*read.batch)->identity.group.empty()) broken("a batch without a group");
        } else if (!read.batch.error().result.error || read.batch.error().result.detail.empty() ||
                   read.batch.error().conn_group.empty()) {
            broken("a refusal without its error, reason or group");
        }
    }

    std::string_view stream_;
    std::size_t piece_;
    std::size_t fed_ = 0;
    std::string buffer_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static const raccoon::config::server_settings settings = fuzz_settings();
    const std::size_t piece = 1 + static_cast<std::size_t>(data[0]) * 16;
    connection c(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), piece);
    for (std::size_t served = 0; served < max_requests && c.serve_one(settings); ++served) {
    }
    return 0;
}
