#include <grpc/grpc.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <functional>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "session_base.hpp"

namespace raccoon::loadgen {

namespace {

namespace net = boost::asio;

// The request bytes are the ones the WebSocket mode sends, already encoded, so
// the generic stub carries them as they are instead of a parsed
// SendEventRequest.
constexpr const char* send_event_method = "/raystack.raccoon.v1beta1.EventService/SendEvent";

std::string lowercase(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

const char* state_name(grpc_connectivity_state state) {
    switch (state) {
        case GRPC_CHANNEL_IDLE:
            return "IDLE";
        case GRPC_CHANNEL_CONNECTING:
            return "CONNECTING";
        case GRPC_CHANNEL_READY:
            return "READY";
        case GRPC_CHANNEL_TRANSIENT_FAILURE:
            return "TRANSIENT_FAILURE";
        case GRPC_CHANNEL_SHUTDOWN:
            return "SHUTDOWN";
    }
    return "UNKNOWN";
}

const char* status_name(grpc::StatusCode code) {
    static constexpr const char* names[] = {"OK",
                                            "CANCELLED",
                                            "UNKNOWN",
                                            "INVALID_ARGUMENT",
                                            "DEADLINE_EXCEEDED",
                                            "NOT_FOUND",
                                            "ALREADY_EXISTS",
                                            "PERMISSION_DENIED",
                                            "RESOURCE_EXHAUSTED",
                                            "FAILED_PRECONDITION",
                                            "ABORTED",
                                            "OUT_OF_RANGE",
                                            "UNIMPLEMENTED",
                                            "INTERNAL",
                                            "UNAVAILABLE",
                                            "DATA_LOSS",
                                            "UNAUTHENTICATED"};
    const auto index = static_cast<std::size_t>(code);
    return index < std::size(names) ? names[index] : "UNKNOWN_CODE";
}

// Reports channels' state changes. The callback API has no connectivity
// callback, and before its first call nothing drives a channel's connection
// attempt unless a completion queue it reports to is polled: one thread does
// that for every channel of the process.
class state_watcher {
 public:
    static state_watcher& instance() {
        static state_watcher watcher;
        return watcher;
    }

    // `done(changed)` runs on the watcher's thread once the channel leaves
    // `from` (true) or at `deadline` (false).
    void watch(grpc::Channel& channel, grpc_connectivity_state from,
               std::chrono::system_clock::time_point deadline, std::function<void(bool)> done) {
        channel.NotifyOnStateChange(from, deadline, &queue_,
                                    new std::function<void(bool)>(std::move(done)));
    }

    ~state_watcher() {
        queue_.Shutdown();
        thread_.join();
    }

 private:
    state_watcher()
        : thread_([this] {
              void* tag = nullptr;
              bool changed = false;
              while (queue_.Next(&tag, &changed)) {
                  std::unique_ptr<std::function<void(bool)>> done(
                      static_cast<std::function<void(bool)>*>(tag));
                  (*done)(changed);
              }
          }) {}

    grpc::CompletionQueue queue_;
    std::thread thread_;
};

// One connection is one channel. gRPC shares subchannels (and so TCP
// connections) between channels with the same target and arguments; a local
// subchannel pool per channel gives each its own. Calls use the callback API:
// their completions come on gRPC's threads and are posted to the strand,
// where session_base does the accounting as for the other transports.
class grpc_session final : public session_base {
 public:
    grpc_session(run_state& run, std::size_t index, net::io_context& io)
        : session_base(run, index, io),
          id_key_(lowercase(run.opts.id_header)),
          group_key_(lowercase(run.opts.group_header)) {}

 private:
    // Everything one call needs until its completion: gRPC writes into these.
    struct call {
        grpc::ClientContext context;
        grpc::ByteBuffer request;
        grpc::ByteBuffer response;
        std::string req_guid;
        // The io_context must not run out of work while a completion is due.
        net::executor_work_guard<net::io_context::executor_type> work;

        explicit call(net::io_context::executor_type executor) : work(executor) {}
    };

    std::shared_ptr<grpc_session> self() {
        return std::static_pointer_cast<grpc_session>(shared_from_this());
    }

    void do_start() override {
        grpc::ChannelArguments args;
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        channel_ = grpc::CreateCustomChannel(opts().host + ":" + std::to_string(opts().port),
                                             grpc::InsecureChannelCredentials(), args);
        stub_ = std::make_unique<grpc::GenericStub>(channel_);
        connect_deadline_ = std::chrono::system_clock::now() +
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                std::chrono::duration<double>(opts().connect_timeout_s));
        connecting_.emplace(strand_.get_inner_executor());
        check_connected();
    }

    void check_connected() {
        // finish() while connecting ends the attempt like a connect error.
        if (closing()) {
            connecting_.reset();
            return connected(false, "connect: cancelled");
        }
        const auto state = channel_->GetState(true);
        if (state == GRPC_CHANNEL_READY) {
            connecting_.reset();
            return connected(true);
        }
        if (state == GRPC_CHANNEL_SHUTDOWN ||
            std::chrono::system_clock::now() >= connect_deadline_) {
            connecting_.reset();
            return connected(false, std::string("connect: channel ") + state_name(state));
        }
        state_watcher::instance().watch(
            *channel_, state, connect_deadline_, [self = self()](bool) mutable {
                auto& strand = self->strand_;
                net::post(strand, [self = std::move(self)] { self->check_connected(); });
            });
    }

    void transmit(std::string message, std::string_view req_guid) override {
        auto c = std::make_shared<call>(strand_.get_inner_executor());
        c->req_guid = req_guid;
        c->context.AddMetadata(id_key_, id());
        if (!group_key_.empty()) c->context.AddMetadata(group_key_, opts().group);
        grpc::Slice slice(message);
        c->request = grpc::ByteBuffer(&slice, 1);
        calls_.insert(c.get());
        // The callback hands its references on to the strand's handler, so
        // the session and the call are released on the run's loop, while its
        // io_context exists: gRPC destroys the callback on its own thread,
        // possibly after the run has returned.
        stub_->UnaryCall(
            &c->context, send_event_method, grpc::StubOptions(), &c->request, &c->response,
            [self = self(), c](grpc::Status status) mutable {
                auto& strand = self->strand_;
                net::post(strand, [self = std::move(self), c = std::move(c),
                                   status = std::move(status)] { self->on_reply(*c, status); });
            });
    }

    void on_reply(call& c, const grpc::Status& status) {
        calls_.erase(&c);
        c.work.reset();
        handle_reply(c, status);
        if (closing() && calls_.empty()) release_channel();
    }

    void handle_reply(call& c, const grpc::Status& status) {
        if (!status.ok()) {
            // Calls cancelled by abort_transport end here too; they stay unacked.
            if (closing()) return;
            return on_no_answer(c.req_guid,
                                std::string("grpc status ") + status_name(status.error_code()));
        }
        std::vector<grpc::Slice> slices;
        if (!c.response.Dump(&slices).ok()) {
            return on_no_answer(c.req_guid, "grpc: unreadable response");
        }
        std::string body;
        body.reserve(c.response.Length());
        for (const auto& s : slices) {
            body.append(reinterpret_cast<const char*>(s.begin()), s.size());
        }
        on_answer(body, wire_format::proto, 0);
    }

    void close_transport() override {
        if (calls_.empty()) release_channel();
        closed();
    }

    void abort_transport() override {
        for (call* c : calls_) c->context.TryCancel();
        if (calls_.empty()) release_channel();
    }

    // Closes the TCP connection; a call in flight still needs the channel.
    void release_channel() {
        stub_.reset();
        channel_.reset();
    }

    const std::string id_key_;
    const std::string group_key_;
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<grpc::GenericStub> stub_;
    std::chrono::system_clock::time_point connect_deadline_{};
    // While a state change is awaited: its report is posted to the strand.
    std::optional<net::executor_work_guard<net::io_context::executor_type>> connecting_;
    std::unordered_set<call*> calls_;
};

}  // namespace

std::shared_ptr<session> make_grpc_session(run_state& run, std::size_t index, net::io_context& io) {
    return std::make_shared<grpc_session>(run, index, io);
}

}  // namespace raccoon::loadgen
