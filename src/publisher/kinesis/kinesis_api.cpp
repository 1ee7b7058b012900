#include "kinesis_api.hpp"

#include <nlohmann/json.hpp>
#include <raccoon/codec/base64.hpp>

namespace raccoon::publisher::kinesis::api {
namespace {

using json = nlohmann::json;

std::optional<json> parse(std::string_view body) {
    auto parsed = json::parse(body, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
    return parsed;
}

std::string text_of(const json& object, const char* key) {
    const auto found = object.find(key);
    return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

}  // namespace

std::string create_stream(std::string_view stream, stream_mode mode, int shards) {
    json body{{"StreamName", stream}};
    if (mode == stream_mode::provisioned) {
        body["ShardCount"] = shards;
        body["StreamModeDetails"] = {{"StreamMode", "PROVISIONED"}};
    } else {
        body["StreamModeDetails"] = {{"StreamMode", "ON_DEMAND"}};
    }
    return body.dump();
}

std::string describe_stream_summary(std::string_view stream) {
    return json{{"StreamName", stream}}.dump();
}

std::string list_shards(std::string_view stream, std::string_view next_token) {
    if (!next_token.empty()) return json{{"NextToken", next_token}}.dump();
    return json{{"StreamName", stream}}.dump();
}

std::string list_streams(std::string_view exclusive_start_stream, int limit) {
    json body{{"Limit", limit}};
    if (!exclusive_start_stream.empty()) body["ExclusiveStartStreamName"] = exclusive_start_stream;
    return body.dump();
}

std::string put_records(std::string_view stream, std::span<const put_entry> records) {
    std::size_t size = 40 + stream.size();
    for (const auto& r : records) {
        size +=
            (r.data.size() + 2) / 3 * 4 + r.partition_key.size() + r.explicit_hash_key.size() + 64;
    }
    std::string body;
    body.reserve(size);
    body += R"({"StreamName":")";
    body += stream;
    body += R"(","Records":[)";
    bool first = true;
    for (const auto& r : records) {
        if (!first) body.push_back(',');
        first = false;
        body += R"({"Data":")";
        body += codec::base64_encode(r.data);
        body += R"(","PartitionKey":")";
        body += r.partition_key;
        if (!r.explicit_hash_key.empty()) {
            body += R"(","ExplicitHashKey":")";
            body += r.explicit_hash_key;
        }
        body += R"("})";
    }
    body += "]}";
    return body;
}

error parse_error(const api_reply& reply) {
    if (reply.status == 0) return {"", reply.transport_error};
    error found;
    if (const auto body = parse(reply.body)) {
        found.type = text_of(*body, "__type");
        if (const auto hash = found.type.rfind('#'); hash != std::string::npos) {
            found.type.erase(0, hash + 1);
        }
        found.message = text_of(*body, "message");
        if (found.message.empty()) found.message = text_of(*body, "Message");
    }
    if (found.type.empty()) found.type = "HTTP " + std::to_string(reply.status);
    return found;
}

std::string describe(const api_reply& reply) {
    const error e = parse_error(reply);
    if (e.type.empty()) return e.message;
    return e.message.empty() ? e.type : e.type + ": " + e.message;
}

std::optional<std::string> parse_stream_status(std::string_view body) {
    const auto parsed = parse(body);
    if (!parsed) return std::nullopt;
    const auto summary = parsed->find("StreamDescriptionSummary");
    if (summary == parsed->end() || !summary->is_object()) return std::nullopt;
    std::string status = text_of(*summary, "StreamStatus");
    if (status.empty()) return std::nullopt;
    return status;
}

std::optional<shard_page> parse_shards(std::string_view body) {
    const auto parsed = parse(body);
    if (!parsed) return std::nullopt;
    const auto shards = parsed->find("Shards");
    if (shards == parsed->end() || !shards->is_array()) return std::nullopt;
    shard_page page;
    for (const auto& shard : *shards) {
        if (!shard.is_object()) return std::nullopt;
        const auto range = shard.find("SequenceNumberRange");
        if (range != shard.end() && range->is_object() && range->contains("EndingSequenceNumber")) {
            continue;
        }
        const auto hash_range = shard.find("HashKeyRange");
        if (hash_range == shard.end() || !hash_range->is_object()) return std::nullopt;
        std::string start = text_of(*hash_range, "StartingHashKey");
        if (start.empty()) return std::nullopt;
        page.open_shard_hash_keys.push_back(std::move(start));
    }
    page.next_token = text_of(*parsed, "NextToken");
    return page;
}

std::optional<stream_page> parse_streams(std::string_view body) {
    const auto parsed = parse(body);
    if (!parsed) return std::nullopt;
    const auto names = parsed->find("StreamNames");
    if (names == parsed->end() || !names->is_array()) return std::nullopt;
    stream_page page;
    for (const auto& name : *names) {
        if (!name.is_string()) return std::nullopt;
        page.names.push_back(name.get<std::string>());
    }
    const auto more = parsed->find("HasMoreStreams");
    page.more = more != parsed->end() && more->is_boolean() && more->get<bool>();
    return page;
}

std::optional<std::vector<record_result>> parse_put_records(std::string_view body,
                                                            std::size_t expected) {
    const auto parsed = parse(body);
    if (!parsed) return std::nullopt;
    const auto records = parsed->find("Records");
    if (records == parsed->end() || !records->is_array() || records->size() != expected) {
        return std::nullopt;
    }
    std::vector<record_result> results;
    results.reserve(expected);
    for (const auto& record : *records) {
        if (!record.is_object()) return std::nullopt;
        results.push_back({text_of(record, "ErrorCode"), text_of(record, "ErrorMessage")});
    }
    return results;
}

}  // namespace raccoon::publisher::kinesis::api
