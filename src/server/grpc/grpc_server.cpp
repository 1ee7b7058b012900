#include <grpc/support/log.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <raccoon/codec/codec.hpp>
#include <raccoon/core/batch_metrics.hpp>
#include <raccoon/core/error.hpp>
#include <raccoon/core/request_error_log.hpp>
#include <raccoon/grpc_runtime/callback_queue.hpp>
#include <raccoon/server/grpc/grpc_server.hpp>
#include <stdexcept>
#include <unordered_set>

#include "raystack/raccoon/v1beta1/raccoon.grpc.pb.h"

namespace raccoon::server::grpc {
namespace {

namespace pb = raystack::raccoon::v1beta1;

constexpr std::string_view service_name = "raystack.raccoon.v1beta1.EventService";

// gRPC metadata keys are lowercase on the wire (HTTP/2), whatever the setting says.
std::string lowercase(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
}

std::string metadata_value(const ::grpc::CallbackServerContext& context, const std::string& key) {
    if (key.empty()) return {};
    auto found = context.client_metadata().find(key);
    if (found == context.client_metadata().end()) return {};
    return std::string(found->second.data(), found->second.size());
}

// gRPC's own log lines go through our logger instead of raw stderr. While
// the server starts they are kept quiet (a failure to bind is said in one line
// by app) and the OS error of the last one is kept to say why.
std::atomic<bool> grpc_starting{false};
std::mutex grpc_error_mutex;
std::string grpc_start_error;

void on_grpc_log(gpr_log_func_args* args) {
    if (grpc_starting.load(std::memory_order_relaxed)) {
        spdlog::debug("grpc {}:{}: {}", args->file, args->line, args->message);
        std::string_view message = args->message;
        constexpr std::string_view os_error = "os_error:\"";
        if (auto at = message.find(os_error); at != std::string_view::npos) {
            message.remove_prefix(at + os_error.size());
            std::lock_guard lock(grpc_error_mutex);
            grpc_start_error = std::string(message.substr(0, message.find('"')));
        }
        return;
    }
    const auto level = args->severity == GPR_LOG_SEVERITY_ERROR  ? spdlog::level::warn
                       : args->severity == GPR_LOG_SEVERITY_INFO ? spdlog::level::debug
                                                                 : spdlog::level::trace;
    spdlog::log(level, "grpc {}:{}: {}", args->file, args->line, args->message);
}

std::string listen_address(const std::string& bind_address, std::uint16_t port) {
    // An IPv6 address needs brackets before its port.
    if (bind_address.find(':') != std::string::npos) {
        return "[" + bind_address + "]:" + std::to_string(port);
    }
    return bind_address + ":" + std::to_string(port);
}

}  // namespace

// One SendEvent call between its handler and its answer. It may be answered by
// its batch's completion, or by shutdown() when that comes first: `finished`
// lets exactly one of them touch the reactor, which is gone after Finish.
struct call {
    ::grpc::ServerUnaryReactor* reactor;
    ::grpc::ByteBuffer* response;
    // Who sent it, for a refusal's metric and log line.
    std::string group;
    std::string peer;
    // The request's body, in one piece, until it is decoded: a slice holds
    // its bytes past the call's end.
    ::grpc::Slice body;
    // Empty while its bytes are reserved, then decoded while the channel is full.
    std::unique_ptr<core::batch> waiting;
    std::atomic<bool> finished{false};
};

// SendEvent is registered as a raw method, the request and response as bytes:
// gRPC's own parse of a bad body answers UNIMPLEMENTED with no message (gRPC
// 1.51), while a client must be told INVALID_ARGUMENT and why. Parsing here
// also leaves the request ours to move the events' bytes out of.
struct grpc_server::state
    : std::enable_shared_from_this<grpc_server::state>,
      pb::EventService::WithRawCallbackMethod_SendEvent<pb::EventService::Service> {
    state(const config::server_settings& s, core::ingestor& i)
        : settings(s),
          limits{.max_events = s.max_events_per_request,
                 .max_req_guid_bytes = s.max_req_guid_bytes},
          ingestor(i),
          id_key(lowercase(s.conn_id_header)),
          group_key(lowercase(s.conn_group_header)) {}

    ::grpc::ServerUnaryReactor* SendEvent(::grpc::CallbackServerContext* context,
                                          const ::grpc::ByteBuffer* request,
                                          ::grpc::ByteBuffer* response) override;

    // Reserves the most the call's batch can cost, then decodes its body and
    // offers the batch; or waits for the bytes and does so from the thread
    // that frees them.
    void read(const std::shared_ptr<call>& c);
    void offer(const std::shared_ptr<call>& c);
    // Counts and logs a refused call, and answers it INVALID_ARGUMENT.
    void refuse(const std::shared_ptr<call>& c, std::string_view reason, std::string message);
    void answer(const std::shared_ptr<call>& c, const core::batch_result& result,
                const std::string& req_guid);
    // Finishes the call unless it is finished already; false when it was.
    bool finish(const std::shared_ptr<call>& c, const ::grpc::Status& status);

    const config::server_settings settings;
    const codec::request_limits limits;
    core::ingestor& ingestor;
    const std::string id_key;
    const std::string group_key;
    std::unique_ptr<::grpc::Server> server;
    std::uint16_t port = 0;
    std::atomic<bool> draining{false};
    // NOT_SERVING until the first check of the publisher says otherwise.
    std::atomic<bool> serving{false};

    mutable std::mutex calls_mutex;
    std::unordered_set<std::shared_ptr<call>> calls;
};

::grpc::ServerUnaryReactor* grpc_server::state::SendEvent(::grpc::CallbackServerContext* context,
                                                          const ::grpc::ByteBuffer* request,
                                                          ::grpc::ByteBuffer* response) {
    ::grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (draining.load(std::memory_order_acquire)) {
        reactor->Finish(::grpc::Status(::grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
        return reactor;
    }
    auto c = std::make_shared<call>();
    c->reactor = reactor;
    c->response = response;
    c->group = metadata_value(*context, group_key);
    if (c->group.empty()) c->group = settings.conn_group_default;
    c->peer = context->peer();
    // As upstream, a call without the id metadata is refused (upstream answers
    // with a plain error, which gRPC-Go sends as UNKNOWN; INVALID_ARGUMENT
    // says what is wrong, and clients read any non-OK status as a failure).
    std::string id = metadata_value(*context, id_key);
    if (id.empty()) {
        refuse(c, "missingid", "connection id metadata " + id_key + " missing");
        return reactor;
    }
    // The codec's own protobuf reader, as for REST and WebSocket, over the
    // body in one piece (a small message arrives as one slice: no copy).
    if (!request->TrySingleSlice(&c->body).ok() && !request->DumpToSingleSlice(&c->body).ok()) {
        refuse(c, "serde", "body could not be read");
        return reactor;
    }
    c->waiting = std::make_unique<core::batch>();
    c->waiting->identity = {std::move(id), c->group};
    {
        std::lock_guard lock(calls_mutex);
        calls.insert(c);
    }
    read(c);
    return reactor;
}

void grpc_server::state::read(const std::shared_ptr<call>& c) {
    const std::size_t cost = codec::decoded_memory_bound(*c->waiting, c->body.size(), limits);
    if (!ingestor.reserve(*c->waiting, cost, [self = shared_from_this(), c] { self->read(c); })) {
        return;
    }
    auto decoded =
        codec::decode_request({reinterpret_cast<const char*>(c->body.begin()), c->body.size()},
                              codec::wire_format::protobuf, limits, std::move(c->waiting));
    c->body = ::grpc::Slice();
    if (!decoded) return refuse(c, "serde", std::move(decoded.error().reason));
    std::unique_ptr<core::batch> b = std::move(*decoded);
    core::count_batch_read(*b);
    b->set_completion([self = shared_from_this(), c, guid = b->req_guid](
                          const core::batch_result& result) { self->answer(c, result, guid); });
    c->waiting = std::move(b);
    offer(c);
}

void grpc_server::state::refuse(const std::shared_ptr<call>& c, std::string_view reason,
                                std::string message) {
    core::count_batch_failed(c->group, reason);
    core::request_error_log().warn("grpc: request from {} refused: {}", c->peer, message);
    finish(c, ::grpc::Status(::grpc::StatusCode::INVALID_ARGUMENT, std::move(message)));
}

void grpc_server::state::offer(const std::shared_ptr<call>& c) {
    // Full: the batch stays in c->waiting and the reactor pending; on_room
    // comes from a worker (or the channel's close) and offers it again there,
    // outside the channel's lock, so no gRPC thread waits.
    ingestor.submit(c->waiting, [self = shared_from_this(), c] { self->offer(c); });
}

void grpc_server::state::answer(const std::shared_ptr<call>& c, const core::batch_result& result,
                                const std::string& req_guid) {
    if (c->finished.load(std::memory_order_acquire)) return;
    // What upstream clients expect: they read the SendEventResponse when the
    // status is OK and the status otherwise. Upstream's handler returns a
    // failed publish as a response (STATUS_ERROR, CODE_INTERNAL_ERROR, the
    // reason) with a nil error, so a delivery failure is an OK status carrying
    // that response. A batch refused because the server is shutting down was
    // not published at all: that is the status UNAVAILABLE (a gRPC status
    // cannot carry a response), which clients retry.
    const bool as_response =
        result.ok() || result.error == core::make_error_code(core::errc::publish_failed);
    if (!as_response) {
        std::string message = result.error.message();
        if (!result.detail.empty()) message += ": " + result.detail;
        finish(c, ::grpc::Status(static_cast<::grpc::StatusCode>(
                                     codec::wire_status_for(result.error).grpc_status),
                                 message));
        return;
    }
    ::grpc::Slice encoded(codec::encode_response(codec::response_for(result, req_guid),
                                                 codec::wire_format::protobuf));
    // Written under the lock that finish() takes: shutdown() may have finished
    // the call meanwhile, and then its response is gone.
    std::lock_guard lock(calls_mutex);
    if (c->finished.load(std::memory_order_acquire)) return;
    *c->response = ::grpc::ByteBuffer(&encoded, 1);
    c->finished.store(true, std::memory_order_release);
    calls.erase(c);
    c->reactor->Finish(::grpc::Status::OK);
}

bool grpc_server::state::finish(const std::shared_ptr<call>& c, const ::grpc::Status& status) {
    std::lock_guard lock(calls_mutex);
    if (c->finished.exchange(true, std::memory_order_acq_rel)) return false;
    calls.erase(c);
    c->reactor->Finish(status);
    return true;
}

grpc_server::grpc_server(const config::server_settings& settings, core::ingestor& ingestor)
    : state_(std::make_shared<state>(settings, ingestor)) {}

grpc_server::~grpc_server() {
    if (state_->server) shutdown(std::chrono::steady_clock::now());
}

void grpc_server::start() {
    const auto& settings = state_->settings;
    gpr_set_log_function(on_grpc_log);
    grpc_runtime::pin_callback_queue();
    grpc_starting.store(true);
    ::grpc::EnableDefaultHealthCheckService(true);
    ::grpc::reflection::InitProtoReflectionServerBuilderPlugin();

    ::grpc::ServerBuilder builder;
    int selected_port = 0;
    builder.AddListeningPort(listen_address(settings.bind_address, settings.grpc_port),
                             ::grpc::InsecureServerCredentials(), &selected_port);
    builder.RegisterService(state_.get());
    // gRPC sets SO_REUSEPORT by default on Linux: a second server on the same
    // port would start and silently share the traffic instead of failing.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(static_cast<int>(settings.grpc_max_recv_message_bytes));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               settings.grpc_max_concurrent_streams);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                               static_cast<int>(settings.grpc_keepalive_time.count()));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               static_cast<int>(settings.grpc_keepalive_timeout.count()));
    state_->server = builder.BuildAndStart();
    grpc_starting.store(false);
    if (!state_->server || selected_port == 0) {
        state_->server.reset();
        std::string why;
        {
            std::lock_guard lock(grpc_error_mutex);
            if (!grpc_start_error.empty()) why = ": " + grpc_start_error;
        }
        throw std::runtime_error("cannot listen on " +
                                 listen_address(settings.bind_address, settings.grpc_port) + why);
    }
    state_->port = static_cast<std::uint16_t>(selected_port);
    set_serving(state_->serving.load());
}

std::uint16_t grpc_server::port() const { return state_->port; }

void grpc_server::set_serving(bool serving) {
    state_->serving.store(serving);
    if (!state_->server || state_->draining.load()) return;
    auto* health = state_->server->GetHealthCheckService();
    if (health == nullptr) return;
    health->SetServingStatus(serving);
    health->SetServingStatus(std::string(service_name), serving);
}

void grpc_server::stop_accepting() {
    state_->draining.store(true, std::memory_order_release);
    if (!state_->server) return;
    if (auto* health = state_->server->GetHealthCheckService()) health->SetServingStatus(false);
}

std::size_t grpc_server::calls_in_flight() const {
    std::lock_guard lock(state_->calls_mutex);
    return state_->calls.size();
}

void grpc_server::shutdown(std::chrono::steady_clock::time_point deadline) {
    stop_accepting();
    if (!state_->server) return;
    // Calls whose batch is still unanswered are told UNAVAILABLE here: gRPC's
    // Shutdown waits for every callback call to finish, and a batch's answer
    // may never come once the workers and the publisher have stopped.
    std::unordered_set<std::shared_ptr<call>> left;
    {
        std::lock_guard lock(state_->calls_mutex);
        left = state_->calls;
    }
    std::size_t cancelled = 0;
    for (const auto& c : left) {
        if (state_->finish(c, ::grpc::Status(::grpc::StatusCode::UNAVAILABLE,
                                             "server shut down before the batch was acked"))) {
            ++cancelled;
        }
    }
    if (cancelled > 0) spdlog::warn("grpc: {} calls were unanswered at shutdown", cancelled);
    // Answers given just now still have to be written before gRPC cancels
    // what is left, even when the deadline has passed.
    constexpr auto write_grace = std::chrono::milliseconds(250);
    const auto now = std::chrono::steady_clock::now();
    state_->server->Shutdown(
        std::chrono::system_clock::now() +
        std::max<std::chrono::steady_clock::duration>(deadline - now, write_grace));
    state_->server->Wait();
    state_->server.reset();
}

}  // namespace raccoon::server::grpc
