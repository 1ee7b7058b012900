#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <raccoon/grpc_runtime/callback_queue.hpp>

namespace raccoon::grpc_runtime {
namespace {

// A channel takes its reference on the queue at its first callback call, so
// the pin makes one, cancelled at once: it reaches no server. The channel
// goes idle a second later and stops trying to connect.
struct callback_queue_pin {
    std::shared_ptr<::grpc::Channel> channel;
    ::grpc::GenericStub stub;
    ::grpc::ClientContext context;
    ::grpc::ByteBuffer request;
    ::grpc::ByteBuffer response;

    callback_queue_pin() : channel(make_channel()), stub(channel) {
        // A ByteBuffer made without a slice is no message at all to gRPC.
        ::grpc::Slice empty;
        request = ::grpc::ByteBuffer(&empty, 1);
        stub.UnaryCall(&context, "/raccoon.CallbackQueuePin/Pin", ::grpc::StubOptions(), &request,
                       &response, [](const ::grpc::Status&) {});
        context.TryCancel();
    }

    static std::shared_ptr<::grpc::Channel> make_channel() {
        ::grpc::ChannelArguments arguments;
        arguments.SetInt(GRPC_ARG_CLIENT_IDLE_TIMEOUT_MS, 1000);
        return ::grpc::CreateCustomChannel("unix:/nonexistent/raccoon-callback-queue-pin",
                                           ::grpc::InsecureChannelCredentials(), arguments);
    }
};

}  // namespace

// Never destroyed: its channel's reference must outlive every other user.
// Of external linkage, so the compiler keeps the store and a leak checker
// finds the pin reachable at exit.
const void* pinned_callback_queue = nullptr;

void pin_callback_queue() {
    static std::once_flag pinned;
    std::call_once(pinned, [] { pinned_callback_queue = new callback_queue_pin; });
}

}  // namespace raccoon::grpc_runtime
