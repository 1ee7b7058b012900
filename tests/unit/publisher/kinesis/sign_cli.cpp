// Signs requests read as JSON lines on stdin and prints each one's
// X-Amz-Date and Authorization as a JSON line: how test_sigv4_botocore.py
// compares our signer with botocore's on the same generated requests.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <raccoon/publisher/kinesis/sigv4.hpp>
#include <string>

int main() {
    namespace sigv4 = raccoon::publisher::kinesis::sigv4;
    std::string line;
    while (std::getline(std::cin, line)) {
        const auto in = nlohmann::json::parse(line);
        sigv4::request r{.method = in.at("method"),
                         .path = in.at("path"),
                         .query = in.at("query"),
                         .headers = {},
                         .payload = in.at("payload")};
        for (const auto& header : in.at("headers")) r.headers.emplace_back(header[0], header[1]);
        const sigv4::credentials c{in.at("access_key"), in.at("secret_key"), in.at("token")};
        const auto now =
            std::chrono::system_clock::time_point{std::chrono::seconds{in.at("time").get<long>()}};
        const std::string authorization = sigv4::sign(r, c, in.at("region").get<std::string>(),
                                                      in.at("service").get<std::string>(), now);
        nlohmann::json out{{"authorization", authorization}, {"x-amz-date", sigv4::amz_date(now)}};
        std::cout << out.dump() << '\n' << std::flush;
    }
}
