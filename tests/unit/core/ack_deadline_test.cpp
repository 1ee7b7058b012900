#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <raccoon/core/ack_deadline.hpp>
#include <thread>

namespace raccoon::core {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(AckDeadlines, AnAckNotGivenByItsDeadlineIsAnErrorSayingTheBrokerIsUnavailable) {
    ack_deadlines deadlines(50ms);
    std::promise<batch_result> given;
    auto ack = std::make_shared<ack_once>(
        [&given](const batch_result& result) { given.set_value(result); });
    const auto started = clock::now();
    deadlines.watch(ack);
    auto future = given.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_GE(clock::now() - started, 50ms);
    const auto result = future.get();
    EXPECT_EQ(result.error, make_error_code(errc::publish_failed));
    EXPECT_THAT(result.detail, HasSubstr("broker is unavailable"));
    // The delivery that comes after finds the ack given.
    ack->give({});
}

TEST(AckDeadlines, AnAckGivenByItsDeliveryIsGivenOnce) {
    ack_deadlines deadlines(30ms);
    int calls = 0;
    batch_result seen{make_error_code(errc::bad_request), "unset"};
    auto ack = std::make_shared<ack_once>([&](const batch_result& result) {
        ++calls;
        seen = result;
    });
    deadlines.watch(ack);
    ack->give({});
    std::this_thread::sleep_for(120ms);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(seen.ok());
}

TEST(AckDeadlines, StopDropsWhatIsPending) {
    int calls = 0;
    {
        ack_deadlines deadlines(10s);
        deadlines.watch(std::make_shared<ack_once>([&](const batch_result&) { ++calls; }));
        deadlines.stop();
    }
    EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace raccoon::core
