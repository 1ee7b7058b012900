#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>
#include <string_view>

#include "loadgen.hpp"

namespace raccoon::loadgen {

namespace {

// Characters that need no escaping in a JSON string or an HTTP header value.
bool plain_text(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.' || c == ':' || c == '@';
    });
}

bool header_name(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
    });
}

std::optional<std::uint32_t> ipv4(std::string_view text) {
    in_addr address{};
    const std::string s(text);
    if (inet_pton(AF_INET, s.c_str(), &address) != 1) return std::nullopt;
    return ntohl(address.s_addr);
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
    if constexpr (std::is_floating_point_v<T>) {
        try {
            std::size_t used = 0;
            const std::string s(text);
            out = static_cast<T>(std::stod(s, &used));
            return used == s.size() && std::isfinite(out) && out >= 0;
        } catch (const std::exception&) {
            return false;
        }
    } else {
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
        return error == std::errc{} && end == text.data() + text.size();
    }
}

// "127.0.0.1-127.0.0.50,127.0.1.1": addresses and inclusive ranges, 127/8 only.
bool parse_sources(std::string_view text, std::vector<std::uint32_t>& out, std::string& error) {
    while (!text.empty()) {
        const auto comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const auto dash = item.find('-');
        auto first = ipv4(item.substr(0, dash));
        auto last = dash == std::string_view::npos ? first : ipv4(item.substr(dash + 1));
        if (!first || !last || *last < *first) {
            error = "--source-addresses: \"" + std::string(item) +
                    "\" is neither an IPv4 address nor a range A-B";
            return false;
        }
        if ((*first >> 24) != 127 || (*last >> 24) != 127) {
            error = "--source-addresses: only 127.0.0.0/8 addresses are allowed";
            return false;
        }
        if (*last - *first > 65535) {
            error = "--source-addresses: a range holds at most 65536 addresses";
            return false;
        }
        for (std::uint64_t a = *first; a <= *last; ++a)
            out.push_back(static_cast<std::uint32_t>(a));
    }
    return true;
}

bool parse_url(const std::string& url, options& o, std::string& error) {
    std::string_view rest = url;
    if (rest.starts_with("ws://")) {
        o.kind = transport::websocket;
        rest.remove_prefix(5);
    } else if (rest.starts_with("http://")) {
        o.kind = transport::rest;
        rest.remove_prefix(7);
    } else if (rest.starts_with("grpc://")) {
        o.kind = transport::grpc;
        rest.remove_prefix(7);
    } else {
        error = "--url must start with ws://, http:// or grpc://";
        return false;
    }
    const auto slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    o.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    const auto colon = authority.rfind(':');
    if (colon == std::string_view::npos) {
        error = "--url needs an explicit port";
        return false;
    }
    o.host = std::string(authority.substr(0, colon));
    if (!ipv4(o.host)) {
        error = "--url: the host must be an IPv4 address (no name lookups), got \"" + o.host + "\"";
        return false;
    }
    if (!parse_number(authority.substr(colon + 1), o.port) || o.port == 0) {
        error = "--url: bad port";
        return false;
    }
    return true;
}

std::string random_hex(std::size_t digits) {
    std::random_device device;
    std::mt19937_64 generator(device());
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < digits; ++i) out += hex[generator() % 16];
    return out;
}

}  // namespace

std::string usage() {
    return R"(usage: raccoon-loadgen --url URL [options]

  --url URL                ws://HOST:PORT/api/v1/events (WebSocket),
                           http://HOST:PORT/api/v1/events (REST, keep-alive) or
                           grpc://HOST:PORT (EventService/SendEvent, the server's
                           SERVER_GRPC_PORT); HOST an IPv4 address
  --format proto|json      wire format (default proto); gRPC carries protobuf only
  --connections N          connections; with grpc:// channels, each on its own TCP
                           connection (default 1)
  --source-addresses LIST  local addresses, round-robin per connection: A, A-B, comma-separated
                           (127.0.0.0/8 only), e.g. 127.0.0.1-127.0.0.50; not with grpc://
  --id-header NAME         connection id header, gRPC metadata in lower case
                           (default X-User-ID)
  --id-prefix P            id of connection i is P<i> (default loadgen-)
  --group-header NAME, --group G   also send a group header
  --guid-prefix P          req_guid = P-<connection>-<request> (default: random)
  --batch-size N           events per request (default 1)
  --event-size N           bytes per event (default 100; never less than its header)
  --event-types K          types type-0 .. type-<K-1> (default 1)
  --rate R                 open loop: R requests/s over all connections
  --window W               closed loop: W requests in flight per connection (default 1)
  --requests N             requests per connection
  --duration S             seconds of sending (after --warmup), or of holding with --idle
  --warmup S               seconds whose requests are sent but not measured (default 0)
  --idle                   connect, then only hold the connections (answering pings);
                           WebSocket only
  --connect-timeout S      per connection, TCP connect and upgrade (default 10)
  --connect-concurrency N  connection attempts in progress at once (default 256)
  --drain-timeout S        after the sending ends, wait S for answers in flight (default 10)
  --timeout S              hard limit on the whole run (default: warm-up + duration + drain + 120,
                           or 600 with --requests alone)
  --progress S             a progress line on stderr every S seconds
  --threads T              io threads (default 1)
  --json-out FILE          the summary as JSON
  --print-acks             one JSON line per answer on stdout

Requests are deterministic (see bench/README.md). Exit status 0 when every
connection opened and every request sent was answered with success, else 1;
2 for a bad command line.
)";
}

std::optional<options> parse_options(int argc, char** argv, std::string& error) {
    options o;
    bool have_url = false, have_window = false;
    std::string format = "proto";
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::string value;
        bool has_value = false;
        if (!arg.starts_with("--")) {
            error = "unexpected argument \"" + std::string(arg) + "\"";
            return std::nullopt;
        }
        if (auto eq = arg.find('='); eq != std::string_view::npos) {
            value = std::string(arg.substr(eq + 1));
            arg = arg.substr(0, eq);
            has_value = true;
        }
        const std::string name(arg);
        auto flag = [&](bool& target) {
            if (has_value) {
                error = name + " takes no value";
                return false;
            }
            target = true;
            return true;
        };
        auto next = [&]() -> bool {
            if (has_value) return true;
            if (i + 1 >= argc) {
                error = name + " needs a value";
                return false;
            }
            value = argv[++i];
            return true;
        };
        auto number = [&](auto& target) {
            if (!next()) return false;
            if (!parse_number(value, target)) {
                error = name + ": \"" + value + "\" is not a valid number";
                return false;
            }
            return true;
        };
        auto text = [&](std::string& target) {
            if (!next()) return false;
            target = value;
            return true;
        };
        bool ok = true;
        if (name == "--help" || name == "-h") {
            error = "";
            return std::nullopt;
        } else if (name == "--url") {
            ok = text(o.url) && parse_url(o.url, o, error);
            have_url = ok;
        } else if (name == "--format") {
            ok = text(format);
        } else if (name == "--connections") {
            ok = number(o.connections);
        } else if (name == "--source-addresses") {
            ok = next() && parse_sources(value, o.source_addresses, error);
        } else if (name == "--id-header") {
            ok = text(o.id_header);
        } else if (name == "--id-prefix") {
            ok = text(o.id_prefix);
        } else if (name == "--group-header") {
            ok = text(o.group_header);
        } else if (name == "--group") {
            ok = text(o.group);
        } else if (name == "--guid-prefix") {
            ok = text(o.guid_prefix);
        } else if (name == "--batch-size") {
            ok = number(o.batch_size);
        } else if (name == "--event-size") {
            ok = number(o.event_size);
        } else if (name == "--event-types") {
            ok = number(o.event_types);
        } else if (name == "--rate") {
            ok = number(o.rate);
        } else if (name == "--window") {
            ok = number(o.window);
            have_window = true;
        } else if (name == "--requests") {
            ok = number(o.requests);
        } else if (name == "--duration") {
            ok = number(o.duration_s);
        } else if (name == "--warmup") {
            ok = number(o.warmup_s);
        } else if (name == "--idle") {
            ok = flag(o.idle);
        } else if (name == "--connect-timeout") {
            ok = number(o.connect_timeout_s);
        } else if (name == "--connect-concurrency") {
            ok = number(o.connect_concurrency);
        } else if (name == "--drain-timeout") {
            ok = number(o.drain_timeout_s);
        } else if (name == "--timeout") {
            ok = number(o.timeout_s);
        } else if (name == "--progress") {
            ok = number(o.progress_s);
        } else if (name == "--threads") {
            ok = number(o.threads);
        } else if (name == "--json-out") {
            ok = text(o.json_out);
        } else if (name == "--print-acks") {
            ok = flag(o.print_acks);
        } else {
            error = "unknown option " + name;
            return std::nullopt;
        }
        if (!ok) return std::nullopt;
    }

    auto fail = [&](std::string message) -> std::optional<options> {
        error = std::move(message);
        return std::nullopt;
    };
    if (!have_url) return fail("--url is required");
    if (format == "proto") {
        o.format = wire_format::proto;
    } else if (format == "json") {
        o.format = wire_format::json;
    } else {
        return fail("--format must be proto or json");
    }
    if (o.kind == transport::grpc) {
        if (o.format != wire_format::proto) {
            return fail("--format json: gRPC carries protobuf only");
        }
        // gRPC opens its own sockets: there is no hook to bind them first.
        if (!o.source_addresses.empty()) {
            return fail("--source-addresses does not apply to grpc://");
        }
    }
    if (o.connections == 0) return fail("--connections must be at least 1");
    if (o.batch_size == 0) return fail("--batch-size must be at least 1");
    if (o.event_types == 0) return fail("--event-types must be at least 1");
    if (o.window == 0) return fail("--window must be at least 1");
    if (o.threads == 0 || o.threads > 256) return fail("--threads must be 1..256");
    if (o.connect_concurrency == 0) return fail("--connect-concurrency must be at least 1");
    if (o.rate > 0 && have_window)
        return fail("--rate (open loop) and --window (closed loop) exclude each other");
    if (!header_name(o.id_header)) return fail("--id-header must be a header name");
    if (!o.group_header.empty() && !header_name(o.group_header)) {
        return fail("--group-header must be a header name");
    }
    if (!plain_text(o.id_prefix) || !plain_text(o.group)) {
        return fail("--id-prefix and --group may hold only letters, digits and -_.:@");
    }
    if (o.guid_prefix.empty()) o.guid_prefix = random_hex(12);
    if (!plain_text(o.guid_prefix)) {
        return fail("--guid-prefix may hold only letters, digits and -_.:@");
    }
    if (o.idle) {
        if (o.duration_s <= 0) return fail("--idle needs --duration");
        if (o.kind != transport::websocket) return fail("--idle needs a ws:// URL");
        if (o.requests > 0 || o.rate > 0)
            return fail("--idle sends nothing: no --requests or --rate");
    } else if (o.requests == 0 && o.duration_s <= 0) {
        return fail("bound the run with --requests and/or --duration");
    }
    if (o.timeout_s <= 0) {
        o.timeout_s = o.duration_s > 0 ? o.warmup_s + o.duration_s + o.drain_timeout_s + 120 : 600;
    }
    return o;
}

}  // namespace raccoon::loadgen
