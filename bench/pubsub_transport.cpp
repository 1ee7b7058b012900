// What one Pub/Sub publish costs the client over each of Pub/Sub's two APIs:
// the same batches to the same emulator over gRPC (protobuf over HTTP/2) and
// over REST (JSON with base64 data over HTTP/1.1 with Beast), one request at a
// time on one connection. Prints one JSON line per transport: messages/s and
// the client's CPU per message. docs/architecture.md says what it chose by.
//
//   raccoon-pubsub-transport HOST:PORT [BATCHES] [MESSAGES_PER_BATCH] [BYTES]
#include <google/pubsub/v1/pubsub.grpc.pb.h>
#include <grpcpp/grpcpp.h>
#include <openssl/evp.h>
#include <sys/resource.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace v1 = google::pubsub::v1;

constexpr const char* project = "raccoon-bench";
constexpr const char* topic = "transport-bench";

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string base64(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

struct measurement {
    const char* transport;
    double wall_seconds;
    double cpu_seconds;
    std::size_t messages;
};

void print(const measurement& m) {
    std::printf(
        "{\"transport\": \"%s\", \"messages\": %zu, \"messages_per_second\": %.0f, "
        "\"client_cpu_us_per_message\": %.2f}\n",
        m.transport, m.messages, m.messages / m.wall_seconds, 1e6 * m.cpu_seconds / m.messages);
}

template <typename Publish>
measurement measure(const char* transport, int batches, std::size_t per_batch, Publish publish) {
    publish();  // connects and warms up, outside the measurement
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = cpu_seconds();
    for (int i = 0; i < batches; ++i) publish();
    return {transport,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
            cpu_seconds() - cpu_start, per_batch * static_cast<std::size_t>(batches)};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s HOST:PORT [BATCHES] [MESSAGES_PER_BATCH] [BYTES]\n",
                     argv[0]);
        return 2;
    }
    const std::string target = argv[1];
    const int batches = argc > 2 ? std::stoi(argv[2]) : 500;
    const std::size_t per_batch = argc > 3 ? std::stoul(argv[3]) : 100;
    const std::size_t bytes = argc > 4 ? std::stoul(argv[4]) : 200;
    const std::string path = std::string("projects/") + project + "/topics/" + topic;

    std::vector<std::string> payloads;
    for (std::size_t i = 0; i < per_batch; ++i) {
        std::string payload(bytes, '\0');
        for (std::size_t j = 0; j < bytes; ++j) payload[j] = static_cast<char>((i * 31 + j) & 0xff);
        payloads.push_back(std::move(payload));
    }

    auto stub =
        v1::Publisher::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    {
        grpc::ClientContext context;
        v1::Topic request, response;
        request.set_name(path);
        stub->CreateTopic(&context, request, &response);  // ALREADY_EXISTS is as good
    }

    const auto grpc_result = measure("grpc", batches, per_batch, [&] {
        v1::PublishRequest request;
        request.set_topic(path);
        for (const auto& payload : payloads) request.add_messages()->set_data(payload);
        v1::PublishResponse response;
        grpc::ClientContext context;
        const grpc::Status status = stub->Publish(&context, request, &response);
        if (!status.ok()) throw std::runtime_error("gRPC Publish: " + status.error_message());
    });

    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    const auto colon = target.rfind(':');
    asio::ip::tcp::resolver resolver(io);
    asio::connect(socket, resolver.resolve(target.substr(0, colon), target.substr(colon + 1)));
    boost::beast::flat_buffer buffer;
    const std::string rest_target = "/v1/" + path + ":publish";
    const auto rest_result = measure("rest", batches, per_batch, [&] {
        nlohmann::json body;
        auto& messages = body["messages"] = nlohmann::json::array();
        for (const auto& payload : payloads) messages.push_back({{"data", base64(payload)}});
        http::request<http::string_body> request(http::verb::post, rest_target, 11);
        request.set(http::field::host, target);
        request.set(http::field::content_type, "application/json");
        request.keep_alive(true);
        request.body() = body.dump();
        request.prepare_payload();
        http::write(socket, request);
        http::response<http::string_body> response;
        http::read(socket, buffer, response);
        if (response.result() != http::status::ok) {
            throw std::runtime_error("REST publish: " + response.body());
        }
        const auto ids = nlohmann::json::parse(response.body());
        if (ids.at("messageIds").size() != per_batch) throw std::runtime_error("REST: ids");
    });

    print(grpc_result);
    print(rest_result);
    return 0;
}
