#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <raccoon/codec/base64.hpp>
#include <raccoon/codec/codec.hpp>
#include <raccoon/core/error.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "raystack/raccoon/v1beta1/raccoon.pb.h"

namespace raccoon::codec {
namespace {

namespace pb = raystack::raccoon::v1beta1;
using ::testing::HasSubstr;
using namespace std::string_literals;

// Binary bytes with NULs and high bytes: an event is opaque and must survive whole.
const std::string binary_bytes = "\x00\x01\x02\xff\xfe\x00\x80zz\x00"s;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string reason_of(std::string_view body, wire_format format) {
    auto decoded = decode_request(body, format);
    if (decoded) {
        ADD_FAILURE() << "decoded: " << body;
        return {};
    }
    EXPECT_FALSE(decoded.error().reason.empty());
    return decoded.error().reason;
}

// ---- protobuf decode ----------------------------------------------------------

TEST(CodecProtobufDecode, RoundTripsEveryField) {
    pb::SendEventRequest request;
    request.set_req_guid("guid-1");
    request.mutable_sent_time()->set_seconds(1'700'000'000);
    request.mutable_sent_time()->set_nanos(123'456'789);
    auto* click = request.add_events();
    click->set_type("click");
    click->set_event_bytes(binary_bytes);
    auto* view = request.add_events();
    view->set_type("view");
    view->set_event_bytes("");
    auto* untyped = request.add_events();
    untyped->set_event_bytes("payload");
    const std::string body = request.SerializeAsString();

    auto decoded = decode_request(body, wire_format::protobuf);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    const core::batch& b = **decoded;
    EXPECT_EQ(b.req_guid, "guid-1");
    EXPECT_EQ(b.sent_time_seconds, 1'700'000'000);
    EXPECT_EQ(b.sent_time_nanos, 123'456'789);
    ASSERT_EQ(b.events.size(), 3u);
    EXPECT_EQ(b.events[0].type, "click");
    EXPECT_EQ(b.events[0].bytes, binary_bytes);
    EXPECT_EQ(b.events[0].bytes.size(), 10u);
    EXPECT_EQ(b.events[1].type, "view");
    EXPECT_EQ(b.events[1].bytes, "");
    EXPECT_EQ(b.events[2].type, "");
    EXPECT_EQ(b.events[2].bytes, "payload");
    for (const auto& e : b.events) EXPECT_EQ(e.topic, nullptr);
}

TEST(CodecProtobufDecode, MissingOptionalFieldsAreEmpty) {
    pb::SendEventRequest request;
    request.add_events()->set_type("only");
    auto decoded = decode_request(request.SerializeAsString(), wire_format::protobuf);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "");
    EXPECT_EQ((*decoded)->sent_time_seconds, 0);
    EXPECT_EQ((*decoded)->sent_time_nanos, 0);
    ASSERT_EQ((*decoded)->events.size(), 1u);
    EXPECT_EQ((*decoded)->events[0].type, "only");
}

TEST(CodecProtobufDecode, ManyEvents) {
    pb::SendEventRequest request;
    request.set_req_guid("many");
    for (int i = 0; i < 1000; ++i) {
        auto* e = request.add_events();
        e->set_type("t" + std::to_string(i % 7));
        e->set_event_bytes(std::string(static_cast<std::size_t>(i), static_cast<char>(i)));
    }
    auto decoded = decode_request(request.SerializeAsString(), wire_format::protobuf);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    ASSERT_EQ((*decoded)->events.size(), 1000u);
    for (int i = 0; i < 1000; ++i) {
        const auto& e = (*decoded)->events[static_cast<std::size_t>(i)];
        ASSERT_EQ(e.type, "t" + std::to_string(i % 7));
        ASSERT_EQ(e.bytes, std::string(static_cast<std::size_t>(i), static_cast<char>(i)));
    }
}

TEST(CodecProtobufDecode, GarbageIsRefused) {
    // A length-delimited field 1 claiming 5 bytes where only 2 follow.
    EXPECT_THAT(reason_of("\x0a\x05"
                          "ab",
                          wire_format::protobuf),
                HasSubstr("protobuf"));
    // A varint that never ends.
    EXPECT_THAT(
        reason_of("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", wire_format::protobuf),
        HasSubstr("protobuf"));
    // Wire type 7 does not exist.
    EXPECT_THAT(reason_of("\x0f", wire_format::protobuf), HasSubstr("protobuf"));
}

TEST(CodecProtobufDecode, InvalidUtf8InAStringIsRefused) {
    // proto3 strings must be UTF-8; Go's proto.Unmarshal refuses them too.
    // Field 3 (events) holding field 2 (type) = "\xff".
    EXPECT_THAT(reason_of("\x1a\x03\x12\x01\xff", wire_format::protobuf), HasSubstr("protobuf"));
    // The same bytes as event_bytes (field 1) are opaque and fine.
    auto decoded = decode_request("\x1a\x03\x0a\x01\xff", wire_format::protobuf);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->events.at(0).bytes, "\xff");
}

TEST(CodecProtobufDecode, NoEventsIsAnEmptyBatch) {
    // Upstream acks an empty batch as a success: a client flushing an empty
    // queue must not see an error.
    pb::SendEventRequest request;
    request.set_req_guid("empty");
    auto decoded = decode_request(request.SerializeAsString(), wire_format::protobuf);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "empty");
    EXPECT_TRUE((*decoded)->events.empty());
    decoded = decode_request("", wire_format::protobuf);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_TRUE((*decoded)->events.empty());
}

// ---- a request gRPC parsed -------------------------------------------------------

// ---- JSON decode ----------------------------------------------------------------

TEST(CodecJsonDecode, SnakeCase) {
    const std::string body = R"({"req_guid": "guid-2",
        "sent_time": {"seconds": 1700000000, "nanos": 5},
        "events": [{"event_bytes": ")" +
                             base64_encode(binary_bytes) +
                             R"(", "type": "click"},
                   {"event_bytes": "aGVsbG8=", "type": "view"}]})";
    auto decoded = decode_request(body, wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    const core::batch& b = **decoded;
    EXPECT_EQ(b.req_guid, "guid-2");
    EXPECT_EQ(b.sent_time_seconds, 1'700'000'000);
    EXPECT_EQ(b.sent_time_nanos, 5);
    ASSERT_EQ(b.events.size(), 2u);
    EXPECT_EQ(b.events[0].type, "click");
    EXPECT_EQ(b.events[0].bytes, binary_bytes);
    EXPECT_EQ(b.events[1].type, "view");
    EXPECT_EQ(b.events[1].bytes, "hello");
}

TEST(CodecJsonDecode, CamelCaseAliases) {
    const std::string body = R"({"reqGuid": "guid-3",
        "sentTime": {"seconds": 42, "nanos": 999999999},
        "events": [{"eventBytes": "aGk=", "type": "x"}]})";
    auto decoded = decode_request(body, wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "guid-3");
    EXPECT_EQ((*decoded)->sent_time_seconds, 42);
    EXPECT_EQ((*decoded)->sent_time_nanos, 999'999'999);
    ASSERT_EQ((*decoded)->events.size(), 1u);
    EXPECT_EQ((*decoded)->events[0].bytes, "hi");
}

TEST(CodecJsonDecode, IntegersAsStrings) {
    // protojson writes int64 as a string.
    auto decoded =
        decode_request(R"({"req_guid":"g","sent_time":{"seconds":"1700000001","nanos":"7"},)"
                       R"("events":[{"type":"t","event_bytes":""}]})",
                       wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->sent_time_seconds, 1'700'000'001);
    EXPECT_EQ((*decoded)->sent_time_nanos, 7);
    decoded = decode_request(R"({"sent_time":{"seconds":-62135596800},"events":[{"type":"t"}]})",
                             wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->sent_time_seconds, -62'135'596'800);
}

TEST(CodecJsonDecode, NullFieldsAreAbsent) {
    auto decoded = decode_request(
        R"({"req_guid":null,"sent_time":null,"events":[{"type":null,"event_bytes":null}]})",
        wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "");
    EXPECT_EQ((*decoded)->sent_time_seconds, 0);
    ASSERT_EQ((*decoded)->events.size(), 1u);
    EXPECT_EQ((*decoded)->events[0].type, "");
    EXPECT_EQ((*decoded)->events[0].bytes, "");

    decoded =
        decode_request(R"({"sent_time":{"seconds":null,"nanos":null},"events":[{"type":"t"}]})",
                       wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->sent_time_seconds, 0);
    EXPECT_EQ((*decoded)->sent_time_nanos, 0);
}

TEST(CodecJsonDecode, NullSnakeCaseFallsBackToAlias) {
    auto decoded = decode_request(R"({"req_guid":null,"reqGuid":"alias","events":[{"type":"t"}]})",
                                  wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "alias");
}

TEST(CodecJsonDecode, UnknownFieldsAreIgnored) {
    // As Go's encoding/json, which upstream decodes with.
    auto decoded =
        decode_request(R"({"req_guid":"g","client":"web","events":[{"type":"t","extra":[1,2]}]})",
                       wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "g");
}

TEST(CodecJsonDecode, UnicodeTypeAndGuid) {
    auto decoded = decode_request(
        R"({"req_guid":"gu\u00efd","events":[{"type":"caf\u00e9","event_bytes":"AA=="}]})",
        wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid,
              "gu\xc3\xaf"
              "d");
    EXPECT_EQ((*decoded)->events[0].type, "caf\xc3\xa9");
    EXPECT_EQ((*decoded)->events[0].bytes, "\0"s);
}

TEST(CodecJsonDecode, MalformedRequestsNameTheField) {
    const auto json = wire_format::json;
    EXPECT_THAT(reason_of("not json", json), HasSubstr("not valid JSON"));
    EXPECT_THAT(reason_of("", json), HasSubstr("not valid JSON"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":"t"}]} trailing)", json),
                HasSubstr("not valid JSON"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":"t"})", json), HasSubstr("not valid JSON"));
    EXPECT_THAT(reason_of("[]", json), HasSubstr("not a JSON object"));
    EXPECT_THAT(reason_of(R"("text")", json), HasSubstr("not a JSON object"));
    EXPECT_THAT(reason_of("5", json), HasSubstr("not a JSON object"));
    EXPECT_THAT(reason_of(R"({"events":{"type":"t"}})", json),
                HasSubstr("events is an object, not an array"));
    EXPECT_THAT(reason_of(R"({"events":"abc"})", json),
                HasSubstr("events is a string, not an array"));
    EXPECT_THAT(reason_of(R"({"events":[1]})", json), HasSubstr("events[0] is not an object"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":"t"},"x"]})", json),
                HasSubstr("events[1] is not an object"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":"t"},null]})", json),
                HasSubstr("events[1] is null"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":"t"},[]]})", json),
                HasSubstr("events[1] is not an object"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":5}]})", json),
                HasSubstr("events[0].type is a number, not a string"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":"t"},{"type":"t","event_bytes":"!!!!"}]})", json),
                HasSubstr("events[1].event_bytes is not base64"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":"t","event_bytes":"abcde"}]})", json),
                HasSubstr("not base64"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":"t","event_bytes":true}]})", json),
                HasSubstr("events[0].event_bytes is a boolean, not a base64 string or an array"));
    EXPECT_THAT(reason_of(R"({"events":[{"type":"t","event_bytes":{}}]})", json),
                HasSubstr("events[0].event_bytes is an object"));
    EXPECT_THAT(reason_of(R"({"req_guid":7,"events":[{"type":"t"}]})", json),
                HasSubstr("req_guid is a number, not a string"));
    EXPECT_THAT(reason_of(R"({"req_guid":["a"]})", json),
                HasSubstr("req_guid is an array, not a string"));
    EXPECT_THAT(reason_of(R"({"sent_time":"2024-01-01T00:00:00Z","events":[{"type":"t"}]})", json),
                HasSubstr("sent_time is a string, not an object of seconds and nanos"));
    EXPECT_THAT(reason_of(R"({"sent_time":{"seconds":1.5},"events":[{"type":"t"}]})", json),
                HasSubstr("sent_time.seconds is a fraction, not an integer"));
    EXPECT_THAT(reason_of(R"({"sent_time":{"seconds":"soon"},"events":[{"type":"t"}]})", json),
                HasSubstr("sent_time.seconds is not a 64-bit integer"));
    EXPECT_THAT(reason_of(R"({"sent_time":{"seconds":true},"events":[{"type":"t"}]})", json),
                HasSubstr("sent_time.seconds is a boolean, not an integer"));
}

TEST(CodecJsonDecode, EventBytesAsAnArrayOfBytes) {
    // What upstream's JavaScript client sends: Go's encoding/json reads a
    // JSON array into a []byte element by element.
    auto decoded = decode_request(
        R"({"events":[{"type":"t","event_bytes":[123,34,107,0,255]},{"type":"u","event_bytes":[]}]})",
        wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->events.at(0).bytes, "{\"k\0\xff"s);
    EXPECT_EQ((*decoded)->events.at(1).bytes, "");
    // null leaves a byte zero, as in Go.
    decoded =
        decode_request(R"({"events":[{"type":"t","eventBytes":[1,null,3]}]})", wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->events.at(0).bytes, "\x01\x00\x03"s);
    const auto json = wire_format::json;
    for (const std::string bad : {"256", "-1", "1.5", "\"1\"", "[1]", "{}", "true"}) {
        SCOPED_TRACE(bad);
        EXPECT_THAT(reason_of(R"({"events":[{"type":"t","event_bytes":[0,)" + bad + "]}]}", json),
                    HasSubstr("events[0].event_bytes[1] is not a byte (0-255)"));
    }
}

TEST(CodecJsonDecode, KeysMatchIgnoringCaseAndTheLastRepeatWins) {
    auto decoded = decode_request(
        R"({"REQ_GUID":"a","Events":[{"TYPE":"t","Event_Bytes":"AQ=="}],"Req_Guid":"b"})",
        wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "b");
    ASSERT_EQ((*decoded)->events.size(), 1u);
    EXPECT_EQ((*decoded)->events[0].type, "t");
    EXPECT_EQ((*decoded)->events[0].bytes, "\x01");

    // Document order decides, whatever the keys' spelling.
    decoded =
        decode_request(R"({"req_guid":"a","REQ_GUID":"b","req_guid":"c"})", wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "c");

    // A repeated events decodes into the events already read, as Go's does,
    // and drops those beyond its own count.
    decoded = decode_request(
        R"({"events":[{"type":"a","event_bytes":"AQ=="},{"type":"z"}],"events":[{"type":"b"}]})",
        wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    ASSERT_EQ((*decoded)->events.size(), 1u);
    EXPECT_EQ((*decoded)->events[0].type, "b");
    EXPECT_EQ((*decoded)->events[0].bytes, "\x01");

    // A repeated sent_time merges; null empties it.
    decoded =
        decode_request(R"({"sent_time":{"seconds":5},"sent_time":{"nanos":3}})", wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->sent_time_seconds, 5);
    EXPECT_EQ((*decoded)->sent_time_nanos, 3);
    decoded = decode_request(R"({"sent_time":{"seconds":5},"sent_time":null})", wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->sent_time_seconds, 0);

    // null leaves a string as it was.
    decoded = decode_request(R"({"req_guid":"kept","REQ_GUID":null})", wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "kept");
}

TEST(CodecJsonDecode, UnknownKeysOfAnyShapeAreSkipped) {
    auto decoded =
        decode_request(R"({"x":{"events":[1,2,{"req_guid":5}]},"y":[[{"type":7}]],"req_guid":"g",)"
                       R"("sent_time":{"seconds":1,"zone":"UTC","extra":{"a":[null]}},)"
                       R"("events":[{"type":"t","meta":{"type":5,"event_bytes":[999]}}]})",
                       wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->req_guid, "g");
    EXPECT_EQ((*decoded)->sent_time_seconds, 1);
    ASSERT_EQ((*decoded)->events.size(), 1u);
    EXPECT_EQ((*decoded)->events[0].type, "t");
}

TEST(CodecJsonDecode, SecondsBeyondInt64AreRefused) {
    // Would wrap to -1 if read as an unsigned and cast.
    EXPECT_THAT(reason_of(R"({"sent_time":{"seconds":18446744073709551615},)"
                          R"("events":[{"type":"t"}]})",
                          wire_format::json),
                HasSubstr("seconds is not a 64-bit integer"));
    EXPECT_THAT(reason_of(R"({"sent_time":{"seconds":"99999999999999999999"},)"
                          R"("events":[{"type":"t"}]})",
                          wire_format::json),
                HasSubstr("seconds is not a 64-bit integer"));
}

TEST(CodecJsonDecode, NanosAreAnyInt32AsInGo) {
    for (const std::string nanos : {"4294967296", "\"2147483648\"", "-2147483649"}) {
        SCOPED_TRACE(nanos);
        EXPECT_THAT(reason_of(R"({"sent_time":{"seconds":1,"nanos":)" + nanos +
                                  R"(},"events":[{"type":"t"}]})",
                              wire_format::json),
                    HasSubstr("sent_time.nanos is not a 32-bit integer"));
    }
    auto decoded = decode_request(R"({"sent_time":{"nanos":-1}})", wire_format::json);
    ASSERT_TRUE(decoded) << decoded.error().reason;
    EXPECT_EQ((*decoded)->sent_time_nanos, -1);
}

TEST(CodecJsonDecode, NoEventsIsAnEmptyBatch) {
    for (const std::string body : {R"({"req_guid":"g"})", R"({"req_guid":"g","events":[]})",
                                   R"({"req_guid":"g","events":null})", "{}", "null"}) {
        SCOPED_TRACE(body);
        auto decoded = decode_request(body, wire_format::json);
        ASSERT_TRUE(decoded) << decoded.error().reason;
        EXPECT_TRUE((*decoded)->events.empty());
        if (body != "{}" && body != "null") {
            EXPECT_EQ((*decoded)->req_guid, "g");
        }
    }
}

// ---- content types ----------------------------------------------------------------

TEST(CodecContentType, KnownTypes) {
    EXPECT_EQ(format_from_content_type("application/proto"), wire_format::protobuf);
    EXPECT_EQ(format_from_content_type("application/protobuf"), wire_format::protobuf);
    EXPECT_EQ(format_from_content_type("application/x-protobuf"), wire_format::protobuf);
    EXPECT_EQ(format_from_content_type("application/json"), wire_format::json);
    EXPECT_EQ(format_from_content_type("application/json; charset=utf-8"), wire_format::json);
    EXPECT_EQ(format_from_content_type("application/json;charset=UTF-8"), wire_format::json);
    EXPECT_EQ(format_from_content_type("Application/JSON"), wire_format::json);
    EXPECT_EQ(format_from_content_type("APPLICATION/X-PROTOBUF"), wire_format::protobuf);
    EXPECT_EQ(format_from_content_type("  application/proto \t; foo=bar"), wire_format::protobuf);
}

TEST(CodecContentType, UnknownTypes) {
    for (std::string_view type :
         {"", "text/plain", "application/jsonx", "application/xml", "application", "json",
          "application/ json", ";application/json", "application/grpc"}) {
        EXPECT_EQ(format_from_content_type(type), std::nullopt) << type;
    }
}

TEST(CodecContentType, ContentTypeOfRoundTrips) {
    EXPECT_EQ(content_type_of(wire_format::protobuf), "application/proto");
    EXPECT_EQ(content_type_of(wire_format::json), "application/json");
    for (auto format : {wire_format::protobuf, wire_format::json}) {
        EXPECT_EQ(format_from_content_type(content_type_of(format)), format);
    }
}

TEST(CodecDecodeJson, ErrorNamesTheReqGuidItCouldRead) {
    auto bad_event =
        decode_request(R"({"req_guid":"g-7","events":[{"type":1}]})", wire_format::json);
    ASSERT_FALSE(bad_event.has_value());
    EXPECT_EQ(bad_event.error().req_guid, "g-7");

    // A body that breaks off names nothing, whatever it held before.
    auto truncated = decode_request(R"({"req_guid":"g-9","events":[)", wire_format::json);
    ASSERT_FALSE(truncated.has_value());
    EXPECT_EQ(truncated.error().req_guid, "");

    auto unreadable = decode_request(R"({"req_guid":5})", wire_format::json);
    ASSERT_FALSE(unreadable.has_value());
    EXPECT_EQ(unreadable.error().req_guid, "");
}

TEST(CodecResponse, ARefusalWithoutAReqGuidHasNoData) {
    const core::batch_result bad{core::make_error_code(core::errc::bad_request), "why"};
    const std::string without = encode_response(refusal_for(bad, ""), wire_format::json);
    EXPECT_EQ(nlohmann::json::parse(without).count("data"), 0u) << without;
    const std::string with = encode_response(refusal_for(bad, "g"), wire_format::json);
    EXPECT_EQ(nlohmann::json::parse(with)["data"]["req_guid"], "g") << with;
    pb::SendEventResponse parsed;
    ASSERT_TRUE(
        parsed.ParseFromString(encode_response(refusal_for(bad, ""), wire_format::protobuf)));
    EXPECT_TRUE(parsed.data().empty());
    EXPECT_EQ(parsed.code(), pb::CODE_BAD_REQUEST);
}

// ---- responses ----------------------------------------------------------------

TEST(CodecEncodeResponse, ProtobufParsesBack) {
    response r;
    r.success = false;
    r.code = response_code::bad_request;
    r.sent_time_seconds = 1'700'000'123;
    r.reason = "bad request: no events";
    r.req_guid = "guid-9";
    pb::SendEventResponse parsed;
    ASSERT_TRUE(parsed.ParseFromString(encode_response(r, wire_format::protobuf)));
    EXPECT_EQ(parsed.status(), pb::STATUS_ERROR);
    EXPECT_EQ(parsed.code(), pb::CODE_BAD_REQUEST);
    EXPECT_EQ(parsed.sent_time(), 1'700'000'123);
    EXPECT_EQ(parsed.reason(), "bad request: no events");
    ASSERT_EQ(parsed.data_size(), 1);
    EXPECT_EQ(parsed.data().at("req_guid"), "guid-9");
}

TEST(CodecEncodeResponse, ProtobufSuccessAndEveryCode) {
    const std::vector<std::pair<response_code, pb::Code>> codes = {
        {response_code::ok, pb::CODE_OK},
        {response_code::bad_request, pb::CODE_BAD_REQUEST},
        {response_code::internal_error, pb::CODE_INTERNAL_ERROR},
        {response_code::max_connection_limit_reached, pb::CODE_MAX_CONNECTION_LIMIT_REACHED},
        {response_code::max_user_limit_reached, pb::CODE_MAX_USER_LIMIT_REACHED},
    };
    for (const auto& [code, expected] : codes) {
        response r;
        r.success = code == response_code::ok;
        r.code = code;
        pb::SendEventResponse parsed;
        ASSERT_TRUE(parsed.ParseFromString(encode_response(r, wire_format::protobuf)));
        EXPECT_EQ(parsed.code(), expected);
        EXPECT_EQ(parsed.status(), r.success ? pb::STATUS_SUCCESS : pb::STATUS_ERROR);
        EXPECT_EQ(parsed.reason(), "");
        ASSERT_TRUE(parsed.data().contains("req_guid"));
        EXPECT_EQ(parsed.data().at("req_guid"), "");
    }
}

TEST(CodecEncodeResponse, JsonExactBytes) {
    response ok;
    ok.success = true;
    ok.code = response_code::ok;
    ok.sent_time_seconds = 1'700'000'000;
    ok.req_guid = "guid-1";
    EXPECT_EQ(encode_response(ok, wire_format::json),
              R"({"status":1,"code":1,"sent_time":1700000000,"data":{"req_guid":"guid-1"}})");

    response error;
    error.success = false;
    error.code = response_code::internal_error;
    error.sent_time_seconds = 1'700'000'001;
    error.reason = "publish failed: broker down";
    error.req_guid = "guid-2";
    EXPECT_EQ(
        encode_response(error, wire_format::json),
        R"({"status":2,"code":3,"sent_time":1700000001,"reason":"publish failed: broker down",)"
        R"("data":{"req_guid":"guid-2"}})");
}

TEST(CodecEncodeResponse, JsonKeepsEmptyReqGuid) {
    response r;
    r.success = false;
    r.code = response_code::bad_request;
    r.sent_time_seconds = 5;
    r.reason = "bad request";
    EXPECT_EQ(
        encode_response(r, wire_format::json),
        R"({"status":2,"code":2,"sent_time":5,"reason":"bad request","data":{"req_guid":""}})");
}

TEST(CodecEncodeResponse, RefusalWithoutReqGuidHasNoData) {
    response refusal;
    refusal.success = false;
    refusal.code = response_code::max_user_limit_reached;
    refusal.sent_time_seconds = 9;
    refusal.reason = "already connected";
    refusal.req_guid.reset();
    pb::SendEventResponse parsed;
    ASSERT_TRUE(parsed.ParseFromString(encode_response(refusal, wire_format::protobuf)));
    EXPECT_EQ(parsed.code(), pb::CODE_MAX_USER_LIMIT_REACHED);
    EXPECT_EQ(parsed.data_size(), 0);
    EXPECT_EQ(encode_response(refusal, wire_format::json),
              R"({"status":2,"code":5,"sent_time":9,"reason":"already connected"})");
}

TEST(CodecEncodeResponse, JsonEscapesAndSurvivesBadUtf8) {
    response r;
    r.success = false;
    r.code = response_code::bad_request;
    r.sent_time_seconds = 1;
    r.reason = "quote \" backslash \\ newline \n bad \xff end";
    r.req_guid = "g\"1";
    std::string text;
    ASSERT_NO_THROW(text = encode_response(r, wire_format::json));
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << text;
    EXPECT_EQ(parsed["data"]["req_guid"], "g\"1");
    EXPECT_THAT(parsed["reason"].get<std::string>(), HasSubstr("quote \" backslash \\ newline \n"));
    EXPECT_EQ(text.find('\n'), std::string::npos);
}

TEST(CodecWireStatus, OneMappingForEveryError) {
    struct expectation {
        std::error_code error;
        int http;
        int grpc;
        response_code code;
    };
    const std::vector<expectation> table = {
        {{}, 200, 0, response_code::ok},
        {core::errc::bad_request, 400, 3, response_code::bad_request},
        {core::errc::unsupported_media_type, 400, 3, response_code::bad_request},
        {core::errc::request_too_large, 413, 8, response_code::bad_request},
        {core::errc::publish_failed, 500, 13, response_code::internal_error},
        {core::errc::shutting_down, 503, 14, response_code::internal_error},
        {std::make_error_code(std::errc::io_error), 500, 13, response_code::internal_error},
    };
    for (const auto& e : table) {
        SCOPED_TRACE(e.error.message());
        wire_status status = wire_status_for(e.error);
        EXPECT_EQ(status.http_status, e.http);
        EXPECT_EQ(status.grpc_status, e.grpc);
        EXPECT_EQ(status.code, e.code);
    }
    EXPECT_EQ(static_cast<int>(response_code::ok), pb::CODE_OK);
    EXPECT_EQ(static_cast<int>(response_code::bad_request), pb::CODE_BAD_REQUEST);
    EXPECT_EQ(static_cast<int>(response_code::internal_error), pb::CODE_INTERNAL_ERROR);
    EXPECT_EQ(static_cast<int>(response_code::max_connection_limit_reached),
              pb::CODE_MAX_CONNECTION_LIMIT_REACHED);
    EXPECT_EQ(static_cast<int>(response_code::max_user_limit_reached),
              pb::CODE_MAX_USER_LIMIT_REACHED);
}

TEST(CodecResponseFor, Success) {
    const auto before = unix_now();
    response r = response_for(core::batch_result{}, "guid-ok");
    const auto after = unix_now();
    EXPECT_TRUE(r.success);
    EXPECT_EQ(r.code, response_code::ok);
    EXPECT_EQ(r.reason, "");
    EXPECT_EQ(r.req_guid, "guid-ok");
    EXPECT_GE(r.sent_time_seconds, before);
    EXPECT_LE(r.sent_time_seconds, after);

    pb::SendEventResponse parsed;
    ASSERT_TRUE(parsed.ParseFromString(encode_response(r, wire_format::protobuf)));
    EXPECT_EQ(parsed.status(), pb::STATUS_SUCCESS);
    EXPECT_EQ(parsed.code(), pb::CODE_OK);
    EXPECT_EQ(parsed.data().at("req_guid"), "guid-ok");
}

TEST(CodecResponseFor, ErrorsCarryTheirCodeAndReason) {
    struct expectation {
        core::errc error;
        pb::Code code;
        std::string reason;
    };
    const std::vector<expectation> table = {
        {core::errc::bad_request, pb::CODE_BAD_REQUEST, "bad request: events is not an array"},
        {core::errc::request_too_large, pb::CODE_BAD_REQUEST,
         "request too large: events is not an array"},
        {core::errc::publish_failed, pb::CODE_INTERNAL_ERROR,
         "publish failed: events is not an array"},
        {core::errc::shutting_down, pb::CODE_INTERNAL_ERROR,
         "server is shutting down: events is not an array"},
    };
    for (const auto& e : table) {
        SCOPED_TRACE(e.reason);
        response r = response_for({e.error, "events is not an array"}, "guid-e");
        EXPECT_FALSE(r.success);
        EXPECT_EQ(r.reason, e.reason);
        EXPECT_EQ(r.req_guid, "guid-e");
        EXPECT_GT(r.sent_time_seconds, 1'600'000'000);

        pb::SendEventResponse parsed;
        ASSERT_TRUE(parsed.ParseFromString(encode_response(r, wire_format::protobuf)));
        EXPECT_EQ(parsed.status(), pb::STATUS_ERROR);
        EXPECT_EQ(parsed.code(), e.code);
        EXPECT_EQ(parsed.reason(), e.reason);

        auto json = nlohmann::json::parse(encode_response(r, wire_format::json));
        EXPECT_EQ(json["status"], 2);
        EXPECT_EQ(json["code"], static_cast<int>(e.code));
        EXPECT_EQ(json["reason"], e.reason);
        EXPECT_EQ(json["sent_time"], r.sent_time_seconds);
        EXPECT_EQ(json["data"]["req_guid"], "guid-e");
    }
}

TEST(CodecResponseFor, ErrorWithoutDetail) {
    response r = response_for({core::errc::publish_failed, ""}, "");
    EXPECT_EQ(r.reason, "publish failed");
    EXPECT_EQ(r.code, response_code::internal_error);
}

}  // namespace
}  // namespace raccoon::codec

namespace raccoon::codec {
namespace {

TEST(RequestLimits, MoreEventsThanTheLimitAreRefusedInEitherFormat) {
    pb::SendEventRequest request;
    request.set_req_guid("g");
    for (int i = 0; i < 4; ++i) {
        auto* e = request.add_events();
        e->set_type("t");
        e->set_event_bytes("b");
    }
    const std::string proto = request.SerializeAsString();
    const std::string json =
        R"({"req_guid":"g","events":[{"type":"t"},{"type":"t"},{"type":"t"},{"type":"t"}]})";
    for (auto [body, format] :
         {std::pair{proto, wire_format::protobuf}, std::pair{json, wire_format::json}}) {
        EXPECT_TRUE(decode_request(body, format, {.max_events = 4}));
        auto refused = decode_request(body, format, {.max_events = 3});
        ASSERT_FALSE(refused);
        // Protobuf's events are counted before any is read; JSON's reading
        // stops at the first one too many.
        EXPECT_THAT(refused.error().reason,
                    HasSubstr(format == wire_format::protobuf ? "holds 4 events, more than 3"
                                                              : "more events than 3"));
        EXPECT_THAT(refused.error().reason, HasSubstr("SERVER_MAX_EVENTS_PER_REQUEST"));
    }
}

TEST(RequestLimits, JsonReadingStopsAtTheFirstEventTooMany) {
    // What follows the fourth event is never read: its brokenness is not the refusal.
    const std::string json = R"({"req_guid":"g","events":[{},{},{},{}, this is not JSON)";
    auto refused = decode_request(json, wire_format::json, {.max_events = 3});
    ASSERT_FALSE(refused);
    EXPECT_THAT(refused.error().reason, HasSubstr("SERVER_MAX_EVENTS_PER_REQUEST"));
    EXPECT_EQ(refused.error().req_guid, "g");
}

// What a transport reserves before decoding covers what the decoded batch
// costs, whatever the body's shape: many tiny events, long strings, JSON's
// escapes, byte arrays and repeated keys.
TEST(RequestLimits, TheDecodedMemoryBoundCoversTheDecodedBatch) {
    std::vector<std::pair<std::string, wire_format>> bodies;
    for (std::size_t events : {0, 1, 2, 17, 1000, 30000}) {
        for (std::size_t bytes : {0, 1, 15, 16, 100, 5000}) {
            if (events * bytes > 4'000'000) continue;
            pb::SendEventRequest request;
            request.set_req_guid(std::string(bytes % 40, 'g'));
            std::string json = R"({"req_guid":"g","events":[)";
            for (std::size_t i = 0; i < events; ++i) {
                auto* e = request.add_events();
                e->set_type(std::string(bytes % 23, 't'));
                e->set_event_bytes(std::string(bytes, 'b'));
                json += (i > 0 ? "," : "") + std::string(R"({"type":")") + std::string(bytes, 'x') +
                        R"(","event_bytes":")" + std::string(bytes / 4 * 4, 'A') + R"("})";
            }
            bodies.emplace_back(request.SerializeAsString(), wire_format::protobuf);
            bodies.emplace_back(json + "]}", wire_format::json);
        }
    }
    bodies.emplace_back(R"({"events":[{},{},{},{},{},{},{},{},{},{},{},{}]})", wire_format::json);
    bodies.emplace_back(R"({"events":[{"type":"\u0041\u0042\u0043\u0044\u0045\u0046\u0047"}]})",
                        wire_format::json);
    bodies.emplace_back(
        R"({"events":[{"event_bytes":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}]})",
        wire_format::json);
    bodies.emplace_back(R"({"events":[{},{},{},{},{},{},{}],"events":[{"type":"a"}],)"
                        R"("req_guid":"first-guid-longer-than-sixteen","req_guid":"x"})",
                        wire_format::json);
    for (const auto& [body, format] : bodies) {
        const request_limits limits{.max_events = 10000};
        auto decoded = decode_request(body, format, limits);
        if (!decoded) continue;
        EXPECT_LE((*decoded)->memory_bytes(),
                  decoded_memory_bound(core::batch{}, body.size(), limits))
            << body.size() << " bytes of " << (format == wire_format::json ? "JSON" : "protobuf");
    }
}

TEST(RequestLimits, ALongerReqGuidIsRefusedWithoutBeingEchoed) {
    const std::string guid(37, 'g');
    pb::SendEventRequest request;
    request.set_req_guid(guid);
    const std::string json = R"({"req_guid":")" + guid + R"(","events":[]})";
    for (auto [body, format] : {std::pair{request.SerializeAsString(), wire_format::protobuf},
                                std::pair{json, wire_format::json}}) {
        EXPECT_TRUE(decode_request(body, format, {.max_req_guid_bytes = 37}));
        auto refused = decode_request(body, format, {.max_req_guid_bytes = 36});
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error().req_guid, "");
        EXPECT_THAT(refused.error().reason, HasSubstr("SERVER_MAX_REQ_GUID_BYTES"));
    }
}

}  // namespace
}  // namespace raccoon::codec
