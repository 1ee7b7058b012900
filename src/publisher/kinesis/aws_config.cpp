#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <raccoon/publisher/kinesis/aws_config.hpp>
#include <sstream>

namespace raccoon::publisher::kinesis {
namespace {

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t\r");
    return text.substr(first, last - first + 1);
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::ranges::transform(out, out.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::optional<std::string> non_empty(const environment& env, std::string_view name) {
    auto value = env(name);
    if (value && value->empty()) return std::nullopt;
    return value;
}

}  // namespace

environment process_environment() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
    };
}

std::optional<sigv4::credentials> parse_credentials_profile(std::string_view text,
                                                            std::string_view profile) {
    sigv4::credentials found;
    bool in_profile = false;
    bool seen = false;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        std::string_view line = trim(text.substr(0, newline));
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        if (line.front() == '[') {
            const auto close = line.find(']');
            in_profile =
                close != std::string_view::npos && trim(line.substr(1, close - 1)) == profile;
            seen = seen || in_profile;
            continue;
        }
        if (!in_profile) continue;
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string key = lowercase(trim(line.substr(0, eq)));
        const std::string value(trim(line.substr(eq + 1)));
        if (key == "aws_access_key_id") found.access_key_id = value;
        if (key == "aws_secret_access_key") found.secret_access_key = value;
        if (key == "aws_session_token") found.session_token = value;
    }
    if (!seen || found.access_key_id.empty() || found.secret_access_key.empty()) {
        return std::nullopt;
    }
    return found;
}

sigv4::credentials load_credentials(const std::string& credentials_file, const environment& env) {
    const auto key_id = non_empty(env, "AWS_ACCESS_KEY_ID");
    const auto secret = non_empty(env, "AWS_SECRET_ACCESS_KEY");
    if (key_id && secret) {
        return {*key_id, *secret, non_empty(env, "AWS_SESSION_TOKEN").value_or("")};
    }
    std::string file = credentials_file;
    std::string named_by = "PUBLISHER_KINESIS_CREDENTIALS";
    if (file.empty()) {
        named_by = "AWS_SHARED_CREDENTIALS_FILE";
        file = non_empty(env, named_by).value_or("");
    }
    if (file.empty()) {
        named_by = "the default of AWS's SDKs";
        const auto home = non_empty(env, "HOME");
        if (!home) {
            throw aws_config_error("PUBLISHER_KINESIS_CREDENTIALS", "",
                                   "a shared-credentials file, or AWS_ACCESS_KEY_ID and "
                                   "AWS_SECRET_ACCESS_KEY in the environment");
        }
        file = *home + "/.aws/credentials";
    }
    const std::string profile = non_empty(env, "AWS_PROFILE").value_or("default");
    std::ifstream in(file);
    if (!in) {
        throw aws_config_error("PUBLISHER_KINESIS_CREDENTIALS", credentials_file,
                               "a readable shared-credentials file (" + file + ", from " +
                                   named_by +
                                   ", cannot be read), or AWS_ACCESS_KEY_ID and "
                                   "AWS_SECRET_ACCESS_KEY in the environment");
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto found = parse_credentials_profile(text.str(), profile);
    if (!found) {
        throw aws_config_error("PUBLISHER_KINESIS_CREDENTIALS", credentials_file,
                               "a shared-credentials file (here " + file + ", from " + named_by +
                                   ") with a profile [" + profile +
                                   "] (AWS_PROFILE) holding aws_access_key_id and "
                                   "aws_secret_access_key");
    }
    return *found;
}

std::string resolve_region(std::string_view configured, const environment& env) {
    if (!configured.empty()) return std::string(configured);
    if (auto region = non_empty(env, "AWS_REGION")) return *region;
    if (auto region = non_empty(env, "AWS_DEFAULT_REGION")) return *region;
    throw aws_config_error("PUBLISHER_KINESIS_AWS_REGION", "",
                           "an AWS region, here or in AWS_REGION or AWS_DEFAULT_REGION");
}

std::string endpoint::url() const { return (tls ? "https://" : "http://") + host_header; }

std::optional<endpoint> parse_endpoint(std::string_view url) {
    endpoint found;
    if (url.starts_with("https://")) {
        url.remove_prefix(8);
    } else if (url.starts_with("http://")) {
        found.tls = false;
        url.remove_prefix(7);
    } else {
        return std::nullopt;
    }
    const auto slash = url.find('/');
    if (slash != std::string_view::npos && url.substr(slash) != "/") return std::nullopt;
    const std::string_view authority = url.substr(0, slash);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
    found.host_header = std::string(authority);
    // An IPv6 literal keeps its brackets in the Host header, not for the resolver.
    const auto bracket = authority.rfind(']');
    const auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        found.host = std::string(authority.substr(0, colon));
        found.port = std::string(authority.substr(colon + 1));
        if (found.port.empty() || !std::ranges::all_of(found.port, [](unsigned char c) {
                return std::isdigit(c) != 0;
            })) {
            return std::nullopt;
        }
    } else {
        found.host = std::string(authority);
        found.port = found.tls ? "443" : "80";
    }
    if (found.host.size() > 2 && found.host.front() == '[' && found.host.back() == ']') {
        found.host = found.host.substr(1, found.host.size() - 2);
    }
    if (found.host.empty()) return std::nullopt;
    return found;
}

endpoint resolve_endpoint(std::string_view region, const environment& env) {
    const bool ignore =
        lowercase(non_empty(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").value_or("")) == "true";
    for (const std::string_view name : {"AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL"}) {
        if (ignore) break;
        const auto url = non_empty(env, name);
        if (!url) continue;
        auto found = parse_endpoint(*url);
        if (!found) {
            throw aws_config_error(std::string(name), *url,
                                   "an http:// or https:// URL of a host and an optional port");
        }
        return *found;
    }
    const std::string suffix = region.starts_with("cn-") ? ".amazonaws.com.cn" : ".amazonaws.com";
    return *parse_endpoint("https://kinesis." + std::string(region) + suffix);
}

}  // namespace raccoon::publisher::kinesis
