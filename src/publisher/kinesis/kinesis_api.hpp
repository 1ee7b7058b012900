#pragma once

#include <cstddef>
#include <optional>
#include <raccoon/publisher/kinesis/api_connection.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// The JSON of the Kinesis operations the publisher uses, as the API
// reference describes them, and the limits it sets.
namespace raccoon::publisher::kinesis::api {

// Per PutRecords call: records, and bytes of data and partition keys.
inline constexpr std::size_t max_records_per_call = 500;
inline constexpr std::size_t max_bytes_per_call = 5 * 1024 * 1024;
// Per record: data and partition key.
inline constexpr std::size_t max_record_bytes = 1024 * 1024;

enum class stream_mode { on_demand, provisioned };

// ON_DEMAND names no shard count (Kinesis scales it); PROVISIONED names `shards`.
std::string create_stream(std::string_view stream, stream_mode mode, int shards);
std::string describe_stream_summary(std::string_view stream);
// The first page names the stream; the next ones only the token.
std::string list_shards(std::string_view stream, std::string_view next_token);
std::string list_streams(std::string_view exclusive_start_stream, int limit);

struct put_entry {
    std::string_view data;
    std::string_view partition_key;
    // Decimal; empty lets Kinesis hash the partition key.
    std::string_view explicit_hash_key;
};
// Data goes base64-encoded; stream names, keys and hash keys need no escaping.
std::string put_records(std::string_view stream, std::span<const put_entry> records);

// An error answer's type (the part after '#' of __type) and message; for no
// answer at all, type is empty and message says why.
struct error {
    std::string type;
    std::string message;
};
error parse_error(const api_reply& reply);
// "Type: message" or the transport's reason, for logs and acks.
std::string describe(const api_reply& reply);

std::optional<std::string> parse_stream_status(std::string_view body);

struct shard_page {
    // StartingHashKey of each open shard (no EndingSequenceNumber).
    std::vector<std::string> open_shard_hash_keys;
    std::string next_token;
};
std::optional<shard_page> parse_shards(std::string_view body);

struct stream_page {
    std::vector<std::string> names;
    bool more = false;
};
std::optional<stream_page> parse_streams(std::string_view body);

// One PutRecords result per record, in the order sent: empty error_code for
// a record written.
struct record_result {
    std::string error_code;
    std::string error_message;
};
std::optional<std::vector<record_result>> parse_put_records(std::string_view body,
                                                            std::size_t expected);

}  // namespace raccoon::publisher::kinesis::api
