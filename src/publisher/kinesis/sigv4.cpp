#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <raccoon/publisher/kinesis/sigv4.hpp>
#include <stdexcept>

namespace raccoon::publisher::kinesis::sigv4 {
namespace {

bool unreserved(unsigned char c) {
    return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
}

// RFC 3986 percent-encoding of everything but the unreserved characters
// (and '/' when `keep_slash`), uppercase hex, as AWS specifies.
std::string uri_encode(std::string_view text, bool keep_slash) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (unreserved(u) || (keep_slash && c == '/')) {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 15]);
        }
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string uri_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            const int high = hex_value(text[i + 1]);
            const int low = hex_value(text[i + 2]);
            if (high >= 0 && low >= 0) {
                out.push_back(static_cast<char>(high * 16 + low));
                i += 2;
                continue;
            }
        }
        out.push_back(text[i]);
    }
    return out;
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::ranges::transform(out, out.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Trimmed, and every run of spaces inside made one.
std::string canonical_value(std::string_view value) {
    std::string out;
    bool space = false;
    for (const char c : value) {
        if (c == ' ' || c == '\t') {
            space = !out.empty();
            continue;
        }
        if (space) out.push_back(' ');
        space = false;
        out.push_back(c);
    }
    return out;
}

// Lowercased names with their canonical values, sorted by name; a name
// given more than once has its values joined by ',' in the order given.
std::vector<std::pair<std::string, std::string>> canonical_headers(const request& r) {
    std::vector<std::pair<std::string, std::string>> headers;
    headers.reserve(r.headers.size());
    for (const auto& [name, value] : r.headers) {
        headers.emplace_back(lowercase(name), canonical_value(value));
    }
    std::ranges::stable_sort(headers, {}, &std::pair<std::string, std::string>::first);
    std::vector<std::pair<std::string, std::string>> joined;
    for (auto& header : headers) {
        if (!joined.empty() && joined.back().first == header.first) {
            joined.back().second += "," + header.second;
        } else {
            joined.push_back(std::move(header));
        }
    }
    return joined;
}

std::string canonical_query(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> parameters;
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (part.empty()) continue;
        const std::size_t eq = part.find('=');
        const std::string_view name = part.substr(0, eq);
        const std::string_view value =
            eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
        parameters.emplace_back(uri_encode(uri_decode(name), false),
                                uri_encode(uri_decode(value), false));
    }
    std::ranges::sort(parameters);
    std::string out;
    for (const auto& [name, value] : parameters) {
        if (!out.empty()) out.push_back('&');
        out += name;
        out.push_back('=');
        out += value;
    }
    return out;
}

}  // namespace

std::string to_hex(std::string_view bytes) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto u = static_cast<unsigned char>(c);
        out.push_back(hex[u >> 4]);
        out.push_back(hex[u & 15]);
    }
    return out;
}

std::string hex_sha256(std::string_view data) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("OpenSSL's SHA-256 failed");
    }
    return to_hex({reinterpret_cast<const char*>(digest), length});
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
             &length) == nullptr) {
        throw std::runtime_error("OpenSSL's HMAC-SHA256 failed");
    }
    return {reinterpret_cast<const char*>(mac), length};
}

std::string signed_headers(const request& r) {
    std::string out;
    for (const auto& [name, value] : canonical_headers(r)) {
        if (!out.empty()) out.push_back(';');
        out += name;
    }
    return out;
}

std::string canonical_request(const request& r, std::string_view payload_hash) {
    std::string out = r.method;
    out.push_back('\n');
    out += uri_encode(r.path.empty() ? "/" : r.path, true);
    out.push_back('\n');
    out += canonical_query(r.query);
    out.push_back('\n');
    for (const auto& [name, value] : canonical_headers(r)) {
        out += name;
        out.push_back(':');
        out += value;
        out.push_back('\n');
    }
    out.push_back('\n');
    out += signed_headers(r);
    out.push_back('\n');
    out += payload_hash;
    return out;
}

std::string credential_scope(std::string_view date, std::string_view region,
                             std::string_view service) {
    std::string out(date);
    out.push_back('/');
    out += region;
    out.push_back('/');
    out += service;
    out += "/aws4_request";
    return out;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical) {
    std::string out = "AWS4-HMAC-SHA256\n";
    out += amz_date;
    out.push_back('\n');
    out += scope;
    out.push_back('\n');
    out += hex_sha256(canonical);
    return out;
}

std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service) {
    std::string key = "AWS4";
    key += secret;
    key = hmac_sha256(key, date);
    key = hmac_sha256(key, region);
    key = hmac_sha256(key, service);
    return hmac_sha256(key, "aws4_request");
}

std::string amz_date(std::chrono::system_clock::time_point when) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[17];
    std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
    return text;
}

std::string sign(request& r, const credentials& c, std::string_view region,
                 std::string_view service, std::chrono::system_clock::time_point now) {
    const std::string date_time = amz_date(now);
    const std::string_view date = std::string_view(date_time).substr(0, 8);
    r.headers.emplace_back("X-Amz-Date", date_time);
    if (!c.session_token.empty()) r.headers.emplace_back("X-Amz-Security-Token", c.session_token);
    const std::string scope = credential_scope(date, region, service);
    const std::string canonical = canonical_request(r, hex_sha256(r.payload));
    const std::string signature =
        to_hex(hmac_sha256(signing_key(c.secret_access_key, date, region, service),
                           string_to_sign(date_time, scope, canonical)));
    return "AWS4-HMAC-SHA256 Credential=" + c.access_key_id + "/" + scope +
           ", SignedHeaders=" + signed_headers(r) + ", Signature=" + signature;
}

}  // namespace raccoon::publisher::kinesis::sigv4
