#include "request_framing.hpp"

#include <boost/beast/core/string.hpp>

namespace raccoon::server::http {

namespace beast_http = boost::beast::http;

head_scan scan_head(std::string_view bytes) {
    std::size_t line_start = 0;
    bool first_line = true;
    for (;;) {
        const std::size_t end = bytes.find('\n', line_start);
        if (end == std::string_view::npos) {
            // The line being read already shows a fold: no need to wait for its end.
            if (!first_line && line_start < bytes.size() &&
                (bytes[line_start] == ' ' || bytes[line_start] == '\t')) {
                return {true, "a header line starts with whitespace (obsolete line folding)"};
            }
            return {false, {}};
        }
        // A bare LF: Beast refuses it.
        if (end == 0 || bytes[end - 1] != '\r') return {true, {}};
        const std::string_view line = bytes.substr(line_start, end - 1 - line_start);
        line_start = end + 1;
        // An empty line ends the head; before the request line it is Beast's to judge.
        if (line.empty()) return {true, {}};
        if (!first_line && (line.front() == ' ' || line.front() == '\t')) {
            return {true, "a header line starts with whitespace (obsolete line folding)"};
        }
        first_line = false;
    }
}

std::string framing_problem(const beast_http::request_header<beast_http::fields>& head) {
    const auto [first, last] = head.equal_range(beast_http::field::transfer_encoding);
    if (first == last) return {};
    if (head.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
    if (std::next(first) != last) return "more than one Transfer-Encoding field";
    std::string_view value = first->value();
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (!boost::beast::iequals(value, "chunked")) {
        return "Transfer-Encoding \"" + std::string(value) +
               "\" is not chunked alone, so the body's length is unknown";
    }
    return {};
}

}  // namespace raccoon::server::http
