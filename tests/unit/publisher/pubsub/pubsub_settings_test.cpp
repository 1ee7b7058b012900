#include <gtest/gtest.h>
#include <stdlib.h>

#include <raccoon/publisher/pubsub/pubsub_settings.hpp>
#include <string>

namespace raccoon::publisher::pubsub {
namespace {

using namespace std::chrono_literals;

// Sets an environment variable for one test and restores it after.
class scoped_environment {
 public:
    scoped_environment(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value != nullptr) {
            ::setenv(name, value, 1);
        } else {
            ::unsetenv(name);
        }
    }
    ~scoped_environment() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }

 private:
    const char* name_;
    std::optional<std::string> old_;
};

TEST(PubsubSettingsTest, DefaultsAreUpstreams) {
    scoped_environment no_emulator("PUBSUB_EMULATOR_HOST", nullptr);
    scoped_environment no_credentials("GOOGLE_APPLICATION_CREDENTIALS", nullptr);
    config::warning_list warnings;
    const auto options = read_options({{"PUBLISHER_PUBSUB_PROJECT_ID", "my-project"}}, warnings);
    EXPECT_EQ(options.project_id, "my-project");
    EXPECT_EQ(options.credentials_file, "");
    EXPECT_EQ(options.emulator_host, "");
    EXPECT_FALSE(options.topic_autocreate);
    EXPECT_EQ(options.topic_retention, 0ms);
    EXPECT_EQ(options.publish_timeout, 60000ms);
    EXPECT_EQ(options.delay_threshold, 10ms);
    EXPECT_EQ(options.count_threshold, 100u);
    EXPECT_EQ(options.byte_threshold, 1000000u);
    EXPECT_EQ(options.max_outstanding_messages, 100000u);
    EXPECT_EQ(options.max_outstanding_bytes, 104857600u);
    EXPECT_TRUE(warnings.empty());
}

TEST(PubsubSettingsTest, GivenValuesAreRead) {
    scoped_environment emulator("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085");
    config::warning_list warnings;
    const auto options = read_options({{"PUBLISHER_PUBSUB_PROJECT_ID", "p1"},
                                       {"PUBLISHER_PUBSUB_CREDENTIALS", "/nonexistent/key.json"},
                                       {"PUBLISHER_PUBSUB_TOPIC_AUTOCREATE", "true"},
                                       {"PUBLISHER_PUBSUB_TOPIC_RETENTION_MS", "600000"},
                                       {"PUBLISHER_PUBSUB_PUBLISH_TIMEOUT_MS", "5000"},
                                       {"PUBLISHER_PUBSUB_PUBLISH_DELAY_THRESHOLD_MS", "3"},
                                       {"PUBLISHER_PUBSUB_PUBLISH_COUNT_THRESHOLD", "50"},
                                       {"PUBLISHER_PUBSUB_PUBLISH_BYTE_THRESHOLD", "2000"},
                                       {"PUBLISHER_PUBSUB_MAX_OUTSTANDING_MESSAGES", "10"},
                                       {"PUBLISHER_PUBSUB_MAX_OUTSTANDING_BYTES", "4096"}},
                                      warnings);
    // With an emulator the key file is not read, so a missing one is no fault.
    EXPECT_EQ(options.emulator_host, "127.0.0.1:8085");
    EXPECT_EQ(options.credentials_file, "/nonexistent/key.json");
    EXPECT_TRUE(options.topic_autocreate);
    EXPECT_EQ(options.topic_retention, 600000ms);
    EXPECT_EQ(options.publish_timeout, 5000ms);
    EXPECT_EQ(options.delay_threshold, 3ms);
    EXPECT_EQ(options.count_threshold, 50u);
    EXPECT_EQ(options.byte_threshold, 2000u);
    EXPECT_EQ(options.max_outstanding_messages, 10u);
    EXPECT_EQ(options.max_outstanding_bytes, 4096u);
}

TEST(PubsubSettingsTest, ThresholdsAbovePubsubsRequestLimitsAreLoweredWithAWarning) {
    scoped_environment emulator("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085");
    config::warning_list warnings;
    const auto options = read_options({{"PUBLISHER_PUBSUB_PROJECT_ID", "p1"},
                                       {"PUBLISHER_PUBSUB_PUBLISH_COUNT_THRESHOLD", "5000"},
                                       {"PUBLISHER_PUBSUB_PUBLISH_BYTE_THRESHOLD", "20000000"}},
                                      warnings);
    EXPECT_EQ(options.count_threshold, 1000u);
    EXPECT_EQ(options.byte_threshold, 9000000u);
    EXPECT_EQ(warnings.size(), 2u);
}

TEST(PubsubSettingsTest, CredentialsFallBackToGoogleApplicationCredentials) {
    scoped_environment emulator("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085");
    scoped_environment credentials("GOOGLE_APPLICATION_CREDENTIALS", "/keys/from-google.json");
    config::warning_list warnings;
    EXPECT_EQ(read_options({{"PUBLISHER_PUBSUB_PROJECT_ID", "p1"}}, warnings).credentials_file,
              "/keys/from-google.json");
    EXPECT_EQ(read_options({{"PUBLISHER_PUBSUB_PROJECT_ID", "p1"},
                            {"PUBLISHER_PUBSUB_CREDENTIALS", "/keys/ours.json"}},
                           warnings)
                  .credentials_file,
              "/keys/ours.json");
}

TEST(PubsubSettingsTest, AMissingProjectOrAnUnusableKeyStopsTheStart) {
    scoped_environment no_emulator("PUBSUB_EMULATOR_HOST", nullptr);
    config::warning_list warnings;
    try {
        read_options({}, warnings);
        FAIL() << "no project was accepted";
    } catch (const config::invalid_setting& e) {
        EXPECT_EQ(e.key(), "PUBLISHER_PUBSUB_PROJECT_ID");
    }
    try {
        read_options({{"PUBLISHER_PUBSUB_PROJECT_ID", "p1"},
                      {"PUBLISHER_PUBSUB_CREDENTIALS", "/nonexistent/key.json"}},
                     warnings);
        FAIL() << "an unreadable key file was accepted";
    } catch (const config::invalid_setting& e) {
        EXPECT_EQ(e.key(), "PUBLISHER_PUBSUB_CREDENTIALS");
    }
    EXPECT_THROW(read_options({{"PUBLISHER_PUBSUB_PROJECT_ID", "p1"},
                               {"PUBLISHER_PUBSUB_PUBLISH_TIMEOUT_MS", "soon"}},
                              warnings),
                 config::invalid_setting);
}

TEST(PubsubSettingsTest, TheKindIsNamedPubsubWithItsSettingsAndNaming) {
    const kind k = publisher_kind();
    EXPECT_EQ(k.name, "pubsub");
    EXPECT_EQ(k.settings, &settings_group());
    ASSERT_TRUE(k.naming.name_problem);
    EXPECT_NE(k.naming.name_problem("ab"), "");
    EXPECT_EQ(settings_group().rows().size(), 10u);
}

}  // namespace
}  // namespace raccoon::publisher::pubsub
