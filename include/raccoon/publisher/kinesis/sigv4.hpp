#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// AWS Signature Version 4 (the Authorization header AWS's APIs require), with
// OpenSSL's SHA-256 and HMAC-SHA256.
namespace raccoon::publisher::kinesis::sigv4 {

struct credentials {
    std::string access_key_id;
    std::string secret_access_key;
    // Temporary credentials only; sent as X-Amz-Security-Token and signed.
    std::string session_token;
};

// One HTTP request as it goes on the wire.
struct request {
    std::string method;
    // The path as sent, already percent-encoded and normalized ("/" for Kinesis).
    std::string path;
    // The query as sent, without '?'; names and values percent-encoded.
    std::string query;
    // Every header to sign, in any case and order. Headers added to the
    // request after signing (User-Agent, Content-Length) are not signed.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string payload;
};

// Lowercase hex of SHA-256.
std::string hex_sha256(std::string_view data);
// Raw HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string to_hex(std::string_view bytes);

// The request's canonical form (task 1 of AWS's description): the path
// encoded once more (all services but S3), the query sorted, the headers
// lowercased, trimmed and sorted, then the hash of the payload.
std::string canonical_request(const request& r, std::string_view payload_hash);
// The lowercase names of the signed headers, sorted, joined by ';'.
std::string signed_headers(const request& r);
// date/region/service/aws4_request; `date` is YYYYMMDD.
std::string credential_scope(std::string_view date, std::string_view region,
                             std::string_view service);
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical);
// The key derived from the secret for one day, region and service.
std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service);
// YYYYMMDD'T'HHMMSS'Z' in UTC, as X-Amz-Date carries it.
std::string amz_date(std::chrono::system_clock::time_point when);

// Adds X-Amz-Date (and X-Amz-Security-Token for temporary credentials) to
// the request's headers, then returns the value of its Authorization header.
std::string sign(request& r, const credentials& c, std::string_view region,
                 std::string_view service, std::chrono::system_clock::time_point now);

}  // namespace raccoon::publisher::kinesis::sigv4
