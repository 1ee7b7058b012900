// Our own gRPC client for the integration tests, on the C++ stub:
//
//   raccoon-grpc-client HOST:PORT TAG TYPE BATCHES EVENTS [KEY=VALUE ...]
//
// Sends BATCHES calls one after another, each with EVENTS events of TYPE whose
// bytes are "TAG:<batch>:<event>", and the KEY=VALUE pairs as metadata. Prints
// one line per call: "<grpc status code> <status> <code> <req_guid>". Exits 0
// when every call had an OK status, 1 otherwise, 2 on bad arguments.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "raystack/raccoon/v1beta1/raccoon.grpc.pb.h"

namespace pb = raystack::raccoon::v1beta1;

int main(int argc, char** argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: %s HOST:PORT TAG TYPE BATCHES EVENTS [KEY=VALUE ...]\n",
                     argv[0]);
        return 2;
    }
    const std::string target = argv[1];
    const std::string tag = argv[2];
    const std::string type = argv[3];
    const int batches = std::atoi(argv[4]);
    const int events = std::atoi(argv[5]);
    auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    auto stub = pb::EventService::NewStub(channel);
    bool all_ok = true;
    for (int b = 0; b < batches; ++b) {
        pb::SendEventRequest request;
        request.set_req_guid(tag + "-" + std::to_string(b));
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        request.mutable_sent_time()->set_seconds(
            std::chrono::duration_cast<std::chrono::seconds>(now).count());
        for (int e = 0; e < events; ++e) {
            pb::Event* event = request.add_events();
            event->set_type(type);
            event->set_event_bytes(tag + ":" + std::to_string(b) + ":" + std::to_string(e));
        }
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        for (int i = 6; i < argc; ++i) {
            std::string pair = argv[i];
            auto eq = pair.find('=');
            if (eq == std::string::npos) return 2;
            context.AddMetadata(pair.substr(0, eq), pair.substr(eq + 1));
        }
        pb::SendEventResponse response;
        grpc::Status status = stub->SendEvent(&context, request, &response);
        auto guid = response.data().find("req_guid");
        std::printf("%d %d %d %s\n", static_cast<int>(status.error_code()),
                    static_cast<int>(response.status()), static_cast<int>(response.code()),
                    guid == response.data().end() ? "-" : guid->second.c_str());
        if (!status.ok()) all_ok = false;
    }
    return all_ok ? 0 : 1;
}
