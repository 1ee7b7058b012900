#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <raccoon/publisher/kinesis/aws_config.hpp>
#include <raccoon/publisher/kinesis/sigv4.hpp>
#include <string>
#include <string_view>

namespace raccoon::publisher::kinesis {

// One answer of the Kinesis API.
struct api_reply {
    // 0 when no HTTP answer came (refused, reset, timed out).
    int status = 0;
    std::string body;
    // Why no answer came, when status is 0.
    std::string transport_error;
};

// One connection to the Kinesis API, used by one thread at a time.
class api_connection {
 public:
    virtual ~api_connection() = default;

    // POSTs `body`, the JSON input of `operation` (X-Amz-Target
    // Kinesis_20131202.<operation>), and waits up to `timeout` for the answer.
    virtual api_reply call(std::string_view operation, const std::string& body,
                           std::chrono::milliseconds timeout) = 0;
};

using connection_factory = std::function<std::unique_ptr<api_connection>()>;

// Keep-alive HTTP/1.1 connections to `at`, each request signed (SigV4,
// service "kinesis") with `credentials` for `region`. Over https the peer's
// certificate is checked against the system's CAs and its host name, with SNI.
connection_factory signed_connections(endpoint at, sigv4::credentials credentials,
                                      std::string region);

}  // namespace raccoon::publisher::kinesis
