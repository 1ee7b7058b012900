#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <raccoon/core/topic_policy.hpp>

namespace raccoon::core {
namespace {

using ::testing::HasSubstr;

// Kafka's rules in small: letters and '.', '_', '-'; '.' and '_' collide.
topic_naming kafka_like() {
    return {[](std::string_view topic) -> std::string {
                for (char c : topic) {
                    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
                        c != '-') {
                        return "holds a character Kafka does not allow";
                    }
                }
                return {};
            },
            [](std::string_view topic) {
                std::string key(topic);
                std::ranges::replace(key, '.', '_');
                return key;
            }};
}

// A batch's events of these types, kept alive for the test.
const batch& with_types(std::initializer_list<std::string> types) {
    static std::vector<std::unique_ptr<batch>> kept;
    auto& b = kept.emplace_back(std::make_unique<batch>());
    for (const auto& type : types) b->events.push_back({type, "x"});
    return *b;
}

TEST(TopicPolicy, ATypeMakingAnIllegalTopicIsABadRequestNamingIt) {
    topic_policy policy({"clickstream-%s-log", "", 0, kafka_like()});
    EXPECT_TRUE(policy.check(with_types({"click", "click", "page.view"})).ok());
    const auto refused = policy.check(with_types({"click", "a/b"}));
    EXPECT_EQ(refused.error, make_error_code(errc::bad_request));
    EXPECT_THAT(refused.detail, HasSubstr("\"a/b\""));
    EXPECT_THAT(refused.detail, HasSubstr("clickstream-a/b-log"));
}

TEST(TopicPolicy, TypesMustMatchTheAllowedPatternWhole) {
    topic_policy policy({"%s", "[a-z]+", 0, kafka_like()});
    EXPECT_TRUE(policy.check(with_types({"click"})).ok());
    const auto refused = policy.check(with_types({"click1"}));
    EXPECT_EQ(refused.error, make_error_code(errc::bad_request));
    EXPECT_THAT(refused.detail, HasSubstr("EVENT_TYPE_ALLOWED_PATTERN"));
}

TEST(TopicPolicy, ACollidingTopicIsRefusedAtOnceWhicheverCameFirst) {
    topic_policy policy({"%s", "", 0, kafka_like()});
    EXPECT_TRUE(policy.check(with_types({"a.b"})).ok());
    auto refused = policy.check(with_types({"a_b"}));
    EXPECT_EQ(refused.error, make_error_code(errc::bad_request));
    EXPECT_THAT(refused.detail, HasSubstr("collides with topic \"a.b\""));
    // One the destination holds, told by its list.
    policy.set_existing({"x_y"});
    refused = policy.check(with_types({"x.y"}));
    EXPECT_THAT(refused.detail, HasSubstr("collides with topic \"x_y\""));
    EXPECT_TRUE(policy.check(with_types({"x_y", "a.b"})).ok());
}

TEST(TopicPolicy, NewTopicsAreCappedPerMinuteAndARefusedBatchKeepsNothing) {
    topic_policy policy({"t-%s", "", 2, kafka_like()});
    // Until the destination's topics are known, none is counted as new.
    EXPECT_TRUE(policy.check(with_types({"early1", "early2", "early3"})).ok());
    policy.set_existing({"t-old1", "t-old2", "t-old3"});
    const auto now = clock::now();
    EXPECT_TRUE(policy.check(with_types({"old1", "old2", "old3", "n1"}), now).ok());
    // Three new ones at once, past the cap of two: refused whole.
    auto refused = policy.check(with_types({"n2", "n3", "n4"}), now);
    EXPECT_EQ(refused.error, make_error_code(errc::too_many_new_topics));
    EXPECT_THAT(refused.detail, HasSubstr("EVENT_DISTRIBUTION_MAX_NEW_TOPICS_PER_MINUTE"));
    EXPECT_TRUE(policy.check(with_types({"n2"}), now).ok());
    EXPECT_FALSE(policy.check(with_types({"n3"}), now).ok());
    // Allowed types stay allowed; a minute later new ones come again.
    EXPECT_TRUE(policy.check(with_types({"n1", "n2", "early1"}), now).ok());
    EXPECT_TRUE(policy.check(with_types({"n3", "n4"}), now + std::chrono::seconds(61)).ok());
}

TEST(PlainNames, OnlyLettersDigitsDotsUnderscoresAndDashesUpToTheLength) {
    EXPECT_EQ(plain_name_problem("clickstream-page_view.v2", 24, "Kafka"), "");
    EXPECT_EQ(plain_name_problem("", 10, "Kafka"), "is empty");
    EXPECT_EQ(plain_name_problem("abcdefghijk", 10, "Kafka"),
              "is 11 characters, more than Kafka allows (10)");
    for (std::string_view bad : {"a/b", "a b", "caf\xc3\xa9", "a:b", "a\x01"}) {
        EXPECT_EQ(plain_name_problem(bad, 100, "Kinesis"),
                  "holds a character Kinesis does not allow (only a-z, A-Z, 0-9, '.', '_' and "
                  "'-')")
            << bad;
    }
}

}  // namespace
}  // namespace raccoon::core
