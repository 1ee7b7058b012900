#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace raccoon::server::http {

// Framing a request must not have, refused with 400 and a closed connection
// (RFC 9112 §6.3): an intermediary that reads it otherwise would see another
// request where we see a body, or the other way round (request smuggling).

// What the raw bytes of a request's head say before Beast parses them.
struct head_scan {
    // The head is read whole (or is malformed in a way Beast refuses):
    // hand the bytes to the parser.
    bool complete = false;
    // A line folded onto the one before (obs-fold, RFC 9112 §5.2), or
    // whitespace before the first field: empty when there is none.
    std::string problem;
};

// Scans the head of the request at the start of `bytes`.
head_scan scan_head(std::string_view bytes);

// Why the parsed head frames its body ambiguously: a Transfer-Encoding other
// than exactly "chunked" (one coding, one field), or any Transfer-Encoding on
// an HTTP/1.0 request. Empty when the framing is sound. Beast itself refuses
// Transfer-Encoding: chunked beside a Content-Length, and Content-Lengths
// that differ.
std::string framing_problem(
    const boost::beast::http::request_header<boost::beast::http::fields>& head);

}  // namespace raccoon::server::http
