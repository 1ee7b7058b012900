#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <raccoon/core/batch.hpp>
#include <raccoon/core/error.hpp>
#include <raccoon/publisher/log/log_publisher.hpp>
#include <string>
#include <vector>

namespace raccoon::publisher::log {
namespace {

// A FILE* for the publisher to write to, and what it wrote.
class temp_file {
 public:
    temp_file() : file_(std::tmpfile()) {}
    ~temp_file() {
        if (file_ != nullptr) std::fclose(file_);
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;

    std::FILE* get() const { return file_; }

    std::vector<std::string> lines() const {
        std::rewind(file_);
        std::vector<std::string> lines;
        std::string line;
        for (int c = std::fgetc(file_); c != EOF; c = std::fgetc(file_)) {
            if (c == '\n') {
                lines.push_back(std::move(line));
                line.clear();
            } else {
                line.push_back(static_cast<char>(c));
            }
        }
        EXPECT_TRUE(line.empty()) << "the last line has no newline: " << line;
        return lines;
    }

 private:
    std::FILE* file_;
};

struct outcome {
    int calls = 0;
    core::batch_result result;
};

std::unique_ptr<core::batch> make_batch(const std::vector<core::event>& events,
                                        const std::shared_ptr<outcome>& seen) {
    auto b = std::make_unique<core::batch>();
    b->req_guid = "guid";
    b->identity = {"user-1", "group-a"};
    b->events = events;
    b->set_completion([seen](const core::batch_result& result) {
        ++seen->calls;
        seen->result = result;
    });
    return b;
}

TEST(log_publisher, writes_one_json_line_per_event_and_completes_ok) {
    temp_file out;
    ASSERT_NE(out.get(), nullptr);
    log_publisher publisher(out.get());
    EXPECT_EQ(publisher.name(), "log");
    const std::string clicks = "clickstream-click-log";
    const std::string views = "clickstream-page_view-log";
    auto seen = std::make_shared<outcome>();
    core::event binary{"page_view", std::string("\x00\xff\x10", 3), &views};
    publisher.publish(make_batch({{"click", "hello", &clicks}, binary}, seen));

    EXPECT_EQ(seen->calls, 1);
    EXPECT_TRUE(seen->result.ok()) << seen->result.detail;
    auto lines = out.lines();
    ASSERT_EQ(lines.size(), 2u);
    auto first = nlohmann::json::parse(lines[0]);
    EXPECT_EQ(first, (nlohmann::json{{"topic", "clickstream-click-log"},
                                     {"type", "click"},
                                     {"conn_group", "group-a"},
                                     {"event_bytes", "aGVsbG8="}}));
    auto second = nlohmann::json::parse(lines[1]);
    EXPECT_EQ(second["topic"], "clickstream-page_view-log");
    EXPECT_EQ(second["type"], "page_view");
    EXPECT_EQ(second["conn_group"], "group-a");
    EXPECT_EQ(second["event_bytes"], "AP8Q");
    EXPECT_EQ(publisher.flush(std::chrono::milliseconds(10)), 0u);
}

TEST(log_publisher, type_that_is_not_utf8_still_makes_valid_json) {
    temp_file out;
    ASSERT_NE(out.get(), nullptr);
    log_publisher publisher(out.get());
    const std::string topic = "t";
    auto seen = std::make_shared<outcome>();
    publisher.publish(make_batch({{std::string("bad\xff", 4), "x", &topic}}, seen));
    EXPECT_TRUE(seen->result.ok());
    auto lines = out.lines();
    ASSERT_EQ(lines.size(), 1u);
    ASSERT_TRUE(nlohmann::json::accept(lines[0])) << lines[0];
    // The invalid byte becomes U+FFFD rather than breaking the line.
    EXPECT_EQ(nlohmann::json::parse(lines[0])["type"], "bad\xEF\xBF\xBD");
}

TEST(log_publisher, empty_batch_completes_and_writes_nothing) {
    temp_file out;
    ASSERT_NE(out.get(), nullptr);
    log_publisher publisher(out.get());
    auto seen = std::make_shared<outcome>();
    publisher.publish(make_batch({}, seen));
    EXPECT_EQ(seen->calls, 1);
    EXPECT_TRUE(seen->result.ok());
    EXPECT_TRUE(out.lines().empty());
}

TEST(log_publisher, write_failure_fails_the_batch) {
    std::FILE* read_only = std::fopen("/dev/null", "r");
    ASSERT_NE(read_only, nullptr);
    log_publisher publisher(read_only);
    const std::string topic = "t";
    auto seen = std::make_shared<outcome>();
    publisher.publish(make_batch({{"click", "x", &topic}, {"click", "y", &topic}}, seen));
    EXPECT_EQ(seen->calls, 1);
    EXPECT_EQ(seen->result.error, core::errc::publish_failed);
    EXPECT_FALSE(seen->result.detail.empty());
    std::fclose(read_only);
}

}  // namespace
}  // namespace raccoon::publisher::log
