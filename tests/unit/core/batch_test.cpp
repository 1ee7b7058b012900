#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <raccoon/core/batch.hpp>
#include <raccoon/core/error.hpp>
#include <string>
#include <thread>
#include <vector>

namespace raccoon::core {
namespace {

// What a batch's completion saw; shared so a test can outlive the batch.
struct recorded {
    std::mutex mutex;
    int calls = 0;
    batch_result result;
};

std::unique_ptr<batch> make_batch(std::size_t events, const std::shared_ptr<recorded>& record) {
    auto b = std::make_unique<batch>();
    b->req_guid = "guid-1";
    for (std::size_t i = 0; i < events; ++i) {
        b->events.push_back({"type-" + std::to_string(i), "bytes-" + std::to_string(i)});
    }
    b->set_completion([record](const batch_result& result) {
        std::lock_guard lock(record->mutex);
        ++record->calls;
        record->result = result;
    });
    return b;
}

int calls(const std::shared_ptr<recorded>& record) {
    std::lock_guard lock(record->mutex);
    return record->calls;
}

TEST(error, category_names_each_code) {
    EXPECT_STREQ(error_category().name(), "raccoon");
    std::error_code code = errc::publish_failed;
    EXPECT_EQ(code.category(), error_category());
    EXPECT_EQ(code.message(), "publish failed");
    EXPECT_EQ(std::error_code(errc::shutting_down).message(), "server is shutting down");
    EXPECT_EQ(std::error_code(errc::bad_request).message(), "bad request");
    EXPECT_TRUE(batch_result{}.ok());
    EXPECT_FALSE((batch_result{errc::bad_request, ""}).ok());
}

TEST(batch, completes_once_after_the_last_of_many_threaded_reports) {
    constexpr int threads = 4;
    constexpr int per_thread = 2'500;
    constexpr int events = threads * per_thread;
    auto record = std::make_shared<recorded>();
    batch* b = batch::start_delivery(make_batch(events, record));

    // All but one report, from several threads at once: not complete yet.
    std::vector<std::thread> reporters;
    for (int t = 0; t < threads; ++t) {
        const int reports = t == 0 ? per_thread - 1 : per_thread;
        reporters.emplace_back([b, reports] {
            for (int i = 0; i < reports; ++i) b->report_delivery({}, {});
        });
    }
    for (auto& reporter : reporters) reporter.join();
    EXPECT_EQ(calls(record), 0);

    b->report_delivery({}, {});
    EXPECT_EQ(calls(record), 1);
    EXPECT_TRUE(record->result.ok());
}

TEST(batch, concurrent_reports_complete_exactly_once_with_an_error) {
    constexpr int threads = 4;
    constexpr int per_thread = 1'000;
    auto record = std::make_shared<recorded>();
    batch* b = batch::start_delivery(make_batch(threads * per_thread, record));
    std::vector<std::thread> reporters;
    for (int t = 0; t < threads; ++t) {
        reporters.emplace_back([b, t] {
            for (int i = 0; i < per_thread; ++i) {
                // Thread 2 fails every event; the others succeed.
                if (t == 2) {
                    b->report_delivery(errc::publish_failed, "broker said no");
                } else {
                    b->report_delivery({}, {});
                }
            }
        });
    }
    for (auto& reporter : reporters) reporter.join();
    EXPECT_EQ(calls(record), 1);
    EXPECT_EQ(record->result.error, errc::publish_failed);
    EXPECT_EQ(record->result.detail, "broker said no");
}

TEST(batch, result_is_the_first_error_with_its_detail) {
    auto record = std::make_shared<recorded>();
    batch* b = batch::start_delivery(make_batch(4, record));
    b->report_delivery({}, {});
    b->report_delivery(errc::publish_failed, "first failure");
    b->report_delivery(errc::shutting_down, "second failure");
    EXPECT_EQ(calls(record), 0);
    b->report_delivery({}, {});
    ASSERT_EQ(calls(record), 1);
    EXPECT_FALSE(record->result.ok());
    EXPECT_EQ(record->result.error, errc::publish_failed);
    EXPECT_EQ(record->result.detail, "first failure");
}

TEST(batch, zero_events_complete_at_once) {
    auto record = std::make_shared<recorded>();
    batch::start_delivery(make_batch(0, record));
    EXPECT_EQ(calls(record), 1);
    EXPECT_TRUE(record->result.ok());
}

TEST(batch, reports_of_several_deliveries_at_once_count_each_event) {
    auto record = std::make_shared<recorded>();
    batch* owned = batch::start_delivery(make_batch(6, record));
    owned->report_deliveries(2);
    owned->report_delivery(make_error_code(errc::publish_failed), "refused");
    EXPECT_EQ(calls(record), 0);
    owned->report_deliveries(3);
    EXPECT_EQ(calls(record), 1);
    EXPECT_EQ(record->result.error, errc::publish_failed);
}

TEST(batch, is_deleted_after_its_last_report) {
    // The completion holds `token`; deleting the batch destroys the completion.
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    auto b = std::make_unique<batch>();
    b->events.push_back({"t", "x"});
    b->events.push_back({"t", "y"});
    b->set_completion([token](const batch_result&) { ++*token; });
    token.reset();
    batch* owned = batch::start_delivery(std::move(b));
    owned->report_delivery({}, {});
    EXPECT_FALSE(watch.expired());
    owned->report_delivery({}, {});
    EXPECT_TRUE(watch.expired());
}

TEST(batch, fail_calls_the_completion_with_the_result) {
    auto record = std::make_shared<recorded>();
    batch::fail(make_batch(3, record), {errc::shutting_down, "not published before shutdown"});
    ASSERT_EQ(calls(record), 1);
    EXPECT_EQ(record->result.error, errc::shutting_down);
    EXPECT_EQ(record->result.detail, "not published before shutdown");
}

TEST(batch, fail_without_a_completion_is_harmless) {
    auto b = std::make_unique<batch>();
    b->events.push_back({"t", "x"});
    batch::fail(std::move(b), {errc::publish_failed, "x"});
    SUCCEED();
}

TEST(batch, take_completion_leaves_none_behind) {
    auto record = std::make_shared<recorded>();
    auto b = make_batch(1, record);
    batch::completion taken = b->take_completion();
    ASSERT_TRUE(taken);
    batch::fail(std::move(b), {errc::publish_failed, "x"});
    EXPECT_EQ(calls(record), 0);
    taken(batch_result{});
    EXPECT_EQ(calls(record), 1);
}

}  // namespace
}  // namespace raccoon::core
