#include <gtest/gtest.h>

#include <raccoon/core/topic_router.hpp>
#include <string>
#include <vector>

namespace raccoon::core {
namespace {

TEST(topic_router, replaces_placeholder_with_type) {
    topic_router router("clickstream-%s-log");
    EXPECT_EQ(router.topic_for("page_view"), "clickstream-page_view-log");
    EXPECT_EQ(router.topic_for("click"), "clickstream-click-log");
    EXPECT_EQ(router.format("buy"), "clickstream-buy-log");
}

TEST(topic_router, placeholder_at_either_end) {
    topic_router prefix_only("events.%s");
    EXPECT_EQ(prefix_only.topic_for("click"), "events.click");
    topic_router suffix_only("%s_topic");
    EXPECT_EQ(suffix_only.topic_for("click"), "click_topic");
    topic_router bare("%s");
    EXPECT_EQ(bare.topic_for("click"), "click");
}

TEST(topic_router, empty_type_leaves_prefix_and_suffix) {
    topic_router router("a-%s-b");
    EXPECT_EQ(router.topic_for(""), "a--b");
}

TEST(topic_router, pattern_without_placeholder_names_one_topic) {
    topic_router router("all-events");
    EXPECT_EQ(router.topic_for("click"), "all-events");
    EXPECT_EQ(router.topic_for("page_view"), "all-events");
    EXPECT_EQ(router.format("x"), "all-events");
}

TEST(topic_router, repeated_type_returns_the_cached_topic) {
    topic_router router("p-%s");
    const std::string& first = router.topic_for("click");
    const std::string& second = router.topic_for(std::string("cli") + "ck");
    EXPECT_EQ(&first, &second);
    EXPECT_EQ(router.cached_types(), 1u);
}

TEST(topic_router, alternating_types_each_get_their_own_topic) {
    topic_router router("p-%s");
    for (std::string_view type : {"a", "b", "b", "a", "a", "b", "", "a"}) {
        EXPECT_EQ(router.topic_for(type), router.format(type)) << type;
    }
    EXPECT_EQ(router.cached_types(), 3u);
}

TEST(topic_router, references_stay_valid_within_a_batch) {
    topic_router router("p-%s", 4);
    router.begin_batch();
    std::vector<const std::string*> topics;
    // Far past the cap and through several rehashes: the cache may not shrink mid-batch.
    for (int i = 0; i < 1000; ++i) topics.push_back(&router.topic_for("t" + std::to_string(i)));
    EXPECT_EQ(router.cached_types(), 1000u);
    for (int i = 0; i < 1000; ++i) {
        ASSERT_EQ(*topics[static_cast<std::size_t>(i)], "p-t" + std::to_string(i));
        ASSERT_EQ(topics[static_cast<std::size_t>(i)], &router.topic_for("t" + std::to_string(i)));
    }
}

TEST(topic_router, begin_batch_clears_the_cache_past_the_cap) {
    topic_router router("p-%s", 4);
    router.begin_batch();
    for (int i = 0; i < 3; ++i) router.topic_for("t" + std::to_string(i));
    router.begin_batch();
    EXPECT_EQ(router.cached_types(), 3u) << "below the cap the cache is kept";

    router.topic_for("t3");
    router.topic_for("t4");
    EXPECT_EQ(router.cached_types(), 5u);
    router.begin_batch();
    EXPECT_EQ(router.cached_types(), 0u);
    EXPECT_EQ(router.topic_for("t4"), "p-t4");
    EXPECT_EQ(router.cached_types(), 1u);
}

TEST(topic_router, cache_stays_bounded_under_a_flood_of_types) {
    constexpr std::size_t cap = 16;
    topic_router router("p-%s", cap);
    for (int batch = 0; batch < 200; ++batch) {
        router.begin_batch();
        for (int i = 0; i < 3; ++i)
            router.topic_for(std::to_string(batch) + "-" + std::to_string(i));
        // A batch may add up to its own types on top of a cache just under the cap.
        ASSERT_LT(router.cached_types(), cap + 3);
    }
}

}  // namespace
}  // namespace raccoon::core
