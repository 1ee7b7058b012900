#include "publisher/kinesis/kinesis_api.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <raccoon/codec/base64.hpp>
#include <vector>

namespace raccoon::publisher::kinesis::api {
namespace {

using json = nlohmann::json;

// kinesalite refuses ON_DEMAND streams, so this shape is checked here only.
TEST(KinesisApi, OnDemandCreateStreamNamesNoShardCount) {
    EXPECT_EQ(
        json::parse(create_stream("clicks", stream_mode::on_demand, 4)),
        json::parse(R"({"StreamName":"clicks","StreamModeDetails":{"StreamMode":"ON_DEMAND"}})"));
}

TEST(KinesisApi, ProvisionedCreateStreamNamesItsShards) {
    EXPECT_EQ(json::parse(create_stream("clicks", stream_mode::provisioned, 3)),
              json::parse(R"({"StreamName":"clicks","ShardCount":3,)"
                          R"("StreamModeDetails":{"StreamMode":"PROVISIONED"}})"));
}

TEST(KinesisApi, PutRecordsCarriesEachRecordBase64Encoded) {
    const std::string binary("\x00\xff\x10 \"quoted\"\n", 13);
    const std::vector<put_entry> entries{{binary, "7", "170141183460469231731687303715884105728"},
                                         {"plain", "8", ""}};
    const json body = json::parse(put_records("s.1_x-y", entries));
    EXPECT_EQ(body["StreamName"], "s.1_x-y");
    ASSERT_EQ(body["Records"].size(), 2u);
    EXPECT_EQ(codec::base64_decode(body["Records"][0]["Data"].get<std::string>()), binary);
    EXPECT_EQ(body["Records"][0]["PartitionKey"], "7");
    EXPECT_EQ(body["Records"][0]["ExplicitHashKey"], "170141183460469231731687303715884105728");
    EXPECT_EQ(codec::base64_decode(body["Records"][1]["Data"].get<std::string>()), "plain");
    EXPECT_FALSE(body["Records"][1].contains("ExplicitHashKey"));
}

TEST(KinesisApi, ErrorTypeDropsItsNamespace) {
    const api_reply reply{
        400,
        R"({"__type":"com.amazonaws.kinesis.v20131202#ResourceNotFoundException",)"
        R"("message":"Stream s not found."})",
        ""};
    EXPECT_EQ(parse_error(reply).type, "ResourceNotFoundException");
    EXPECT_EQ(describe(reply), "ResourceNotFoundException: Stream s not found.");
    EXPECT_EQ(describe({0, "", "Connection refused"}), "Connection refused");
    EXPECT_EQ(describe({503, "<html>", ""}), "HTTP 503");
}

TEST(KinesisApi, ShardsListOnlyOpenOnes) {
    const auto page = parse_shards(R"({"Shards":[
        {"ShardId":"a","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"9"},
         "SequenceNumberRange":{"StartingSequenceNumber":"1","EndingSequenceNumber":"5"}},
        {"ShardId":"b","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"4"},
         "SequenceNumberRange":{"StartingSequenceNumber":"6"}},
        {"ShardId":"c","HashKeyRange":{"StartingHashKey":"5","EndingHashKey":"9"},
         "SequenceNumberRange":{"StartingSequenceNumber":"6"}}],"NextToken":"more"})");
    ASSERT_TRUE(page.has_value());
    EXPECT_EQ(page->open_shard_hash_keys, (std::vector<std::string>{"0", "5"}));
    EXPECT_EQ(page->next_token, "more");
    EXPECT_EQ(json::parse(list_shards("s", "more")), json::parse(R"({"NextToken":"more"})"));
    EXPECT_EQ(json::parse(list_shards("s", "")), json::parse(R"({"StreamName":"s"})"));
}

TEST(KinesisApi, PutRecordsResultsKeepTheirOrder) {
    const auto results = parse_put_records(
        R"({"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"s"},
        {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded"}]})",
        2);
    ASSERT_TRUE(results.has_value());
    EXPECT_TRUE((*results)[0].error_code.empty());
    EXPECT_EQ((*results)[1].error_code, "ProvisionedThroughputExceededException");
    EXPECT_FALSE(parse_put_records(R"({"Records":[]})", 2).has_value());
}

TEST(KinesisApi, StreamStatusAndNames) {
    EXPECT_EQ(parse_stream_status(R"({"StreamDescriptionSummary":{"StreamStatus":"CREATING"}})"),
              "CREATING");
    EXPECT_FALSE(parse_stream_status("{}").has_value());
    const auto page = parse_streams(R"({"StreamNames":["a","b"],"HasMoreStreams":true})");
    ASSERT_TRUE(page.has_value());
    EXPECT_EQ(page->names, (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(page->more);
}

}  // namespace
}  // namespace raccoon::publisher::kinesis::api
