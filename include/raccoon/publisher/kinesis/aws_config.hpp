#pragma once

#include <functional>
#include <optional>
#include <raccoon/publisher/kinesis/sigv4.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

// Where Kinesis is and who signs for it, found as AWS's SDKs find them.
namespace raccoon::publisher::kinesis {

// Reads one environment variable; nullopt when unset.
using environment = std::function<std::optional<std::string>(std::string_view name)>;
environment process_environment();

// A setting or variable that leaves the publisher unable to reach Kinesis:
// its name, its value and what it should be.
class aws_config_error : public std::runtime_error {
 public:
    aws_config_error(std::string key, std::string value, std::string allowed)
        : std::runtime_error(key + "=\"" + value + "\": expected " + allowed),
          key_(std::move(key)),
          value_(std::move(value)),
          allowed_(std::move(allowed)) {}

    const std::string& key() const noexcept { return key_; }
    const std::string& value() const noexcept { return value_; }
    const std::string& allowed() const noexcept { return allowed_; }

 private:
    std::string key_;
    std::string value_;
    std::string allowed_;
};

// The keys of `profile` in the text of a shared-credentials file (INI:
// [profile] sections of aws_access_key_id, aws_secret_access_key and
// aws_session_token); nullopt when the file has no such profile or it lacks a key.
std::optional<sigv4::credentials> parse_credentials_profile(std::string_view text,
                                                            std::string_view profile);

// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN) when
// both are set; else the profile AWS_PROFILE ("default" when unset) of the
// shared-credentials file: `credentials_file` (PUBLISHER_KINESIS_CREDENTIALS)
// when set, else AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials.
// Throws aws_config_error when none gives credentials.
sigv4::credentials load_credentials(const std::string& credentials_file, const environment& env);

// `configured` (PUBLISHER_KINESIS_AWS_REGION) when set, else AWS_REGION, else
// AWS_DEFAULT_REGION. Throws aws_config_error when none is set.
std::string resolve_region(std::string_view configured, const environment& env);

struct endpoint {
    bool tls = true;
    std::string host;
    std::string port;
    // Host as the Host header and the signature carry it: with the port
    // when the URL names one.
    std::string host_header;

    std::string url() const;
};

// An http:// or https:// URL with a host and an optional port, no path
// beyond "/"; nullopt otherwise.
std::optional<endpoint> parse_endpoint(std::string_view url);

// AWS_ENDPOINT_URL_KINESIS, else AWS_ENDPOINT_URL (both ignored when
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true), else Kinesis's public
// HTTPS endpoint of the region. Throws aws_config_error for a URL it cannot use.
endpoint resolve_endpoint(std::string_view region, const environment& env);

}  // namespace raccoon::publisher::kinesis
