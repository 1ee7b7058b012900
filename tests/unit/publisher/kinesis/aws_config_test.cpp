#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <raccoon/publisher/kinesis/aws_config.hpp>
#include <raccoon/publisher/kinesis/kinesis_publisher.hpp>
#include <string>

namespace raccoon::publisher::kinesis {
namespace {

environment with(std::map<std::string, std::string> variables) {
    return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
        const auto found = variables.find(std::string(name));
        if (found == variables.end()) return std::nullopt;
        return found->second;
    };
}

class credentials_file : public ::testing::Test {
 protected:
    void SetUp() override {
        path_ = std::filesystem::temp_directory_path() /
                ("raccoon-kinesis-credentials-" + std::to_string(::getpid()));
        std::ofstream(path_) << "# comment\n[default]\naws_access_key_id = DEFAULTKEY\n"
                                "aws_secret_access_key=defaultsecret\n\n"
                                "[ci]\n; another comment\nAWS_ACCESS_KEY_ID=CIKEY\n"
                                "aws_secret_access_key = ci secret\naws_session_token = citoken\n"
                                "[half]\naws_access_key_id = ONLYKEY\n";
    }
    void TearDown() override { std::filesystem::remove(path_); }

    std::string path() const { return path_.string(); }

 private:
    std::filesystem::path path_;
};

TEST_F(credentials_file, EnvironmentKeysComeFirst) {
    const auto c = load_credentials(path(), with({{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                                                  {"AWS_SECRET_ACCESS_KEY", "envsecret"},
                                                  {"AWS_SESSION_TOKEN", "envtoken"}}));
    EXPECT_EQ(c.access_key_id, "ENVKEY");
    EXPECT_EQ(c.secret_access_key, "envsecret");
    EXPECT_EQ(c.session_token, "envtoken");
}

TEST_F(credentials_file, DefaultProfileOfTheConfiguredFile) {
    const auto c = load_credentials(path(), with({{"AWS_ACCESS_KEY_ID", "only one of the two"}}));
    EXPECT_EQ(c.access_key_id, "DEFAULTKEY");
    EXPECT_EQ(c.secret_access_key, "defaultsecret");
    EXPECT_EQ(c.session_token, "");
}

TEST_F(credentials_file, ProfileNamedByAwsProfile) {
    const auto c = load_credentials(path(), with({{"AWS_PROFILE", "ci"}}));
    EXPECT_EQ(c.access_key_id, "CIKEY");
    EXPECT_EQ(c.secret_access_key, "ci secret");
    EXPECT_EQ(c.session_token, "citoken");
}

TEST_F(credentials_file, SharedCredentialsFileVariableWhenTheSettingIsEmpty) {
    const auto c = load_credentials("", with({{"AWS_SHARED_CREDENTIALS_FILE", path()}}));
    EXPECT_EQ(c.access_key_id, "DEFAULTKEY");
}

TEST_F(credentials_file, HomeDefaultWhenNothingNamesAFile) {
    EXPECT_THROW(
        {
            try {
                load_credentials("", with({{"HOME", "/nonexistent-home"}}));
            } catch (const aws_config_error& e) {
                EXPECT_NE(std::string(e.what()).find("/nonexistent-home/.aws/credentials"),
                          std::string::npos);
                throw;
            }
        },
        aws_config_error);
}

TEST_F(credentials_file, MissingOrHalfProfileIsRefusedByName) {
    for (const char* profile : {"nope", "half"}) {
        try {
            load_credentials(path(), with({{"AWS_PROFILE", profile}}));
            ADD_FAILURE() << profile << " gave credentials";
        } catch (const aws_config_error& e) {
            EXPECT_EQ(e.key(), "PUBLISHER_KINESIS_CREDENTIALS");
            EXPECT_NE(std::string(e.what()).find(std::string("[") + profile + "]"),
                      std::string::npos)
                << e.what();
        }
    }
}

TEST(AwsConfig, RegionFromSettingThenVariables) {
    EXPECT_EQ(resolve_region("eu-west-1", with({{"AWS_REGION", "us-east-1"}})), "eu-west-1");
    EXPECT_EQ(resolve_region(
                  "", with({{"AWS_REGION", "us-east-2"}, {"AWS_DEFAULT_REGION", "us-west-1"}})),
              "us-east-2");
    EXPECT_EQ(resolve_region("", with({{"AWS_DEFAULT_REGION", "us-west-1"}})), "us-west-1");
    EXPECT_THROW(resolve_region("", with({})), aws_config_error);
}

TEST(AwsConfig, EndpointFromVariablesElseTheRegionsHttps) {
    const auto local =
        resolve_endpoint("us-east-1", with({{"AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4567"},
                                            {"AWS_ENDPOINT_URL", "http://other"}}));
    EXPECT_FALSE(local.tls);
    EXPECT_EQ(local.host, "127.0.0.1");
    EXPECT_EQ(local.port, "4567");
    EXPECT_EQ(local.host_header, "127.0.0.1:4567");

    const auto general =
        resolve_endpoint("us-east-1", with({{"AWS_ENDPOINT_URL", "https://proxy.example/"}}));
    EXPECT_TRUE(general.tls);
    EXPECT_EQ(general.host, "proxy.example");
    EXPECT_EQ(general.port, "443");
    EXPECT_EQ(general.host_header, "proxy.example");

    const auto aws =
        resolve_endpoint("eu-central-1", with({{"AWS_ENDPOINT_URL", "http://127.0.0.1:1"},
                                               {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"}}));
    EXPECT_EQ(aws.url(), "https://kinesis.eu-central-1.amazonaws.com");
    EXPECT_EQ(resolve_endpoint("cn-north-1", with({})).url(),
              "https://kinesis.cn-north-1.amazonaws.com.cn");

    EXPECT_THROW(resolve_endpoint("us-east-1", with({{"AWS_ENDPOINT_URL", "ftp://x"}})),
                 aws_config_error);
    EXPECT_FALSE(parse_endpoint("http://host:port").has_value());
    EXPECT_FALSE(parse_endpoint("http://host/path").has_value());
    EXPECT_EQ(parse_endpoint("http://[::1]:4567")->host, "::1");
}

TEST(KinesisNaming, StreamNameRules) {
    const auto naming = topic_naming();
    EXPECT_EQ(naming.name_problem("clickstream-click_log.v1"), "");
    EXPECT_NE(naming.name_problem(""), "");
    EXPECT_NE(naming.name_problem(std::string(129, 'a')), "");
    EXPECT_EQ(naming.name_problem(std::string(128, 'a')), "");
    EXPECT_NE(naming.name_problem("a/b"), "");
    EXPECT_NE(naming.name_problem("caf\xc3\xa9"), "");
}

}  // namespace
}  // namespace raccoon::publisher::kinesis
