#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

#include "loadgen.hpp"
#include "messages.hpp"

namespace raccoon::loadgen {

namespace net = boost::asio;

namespace {

clock::duration seconds(double s) {
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
}

// Connects the sessions (at most --connect-concurrency at a time), starts them
// together once every connection is up or failed, and ends the run: at the end
// of --duration (stop, then --drain-timeout for answers in flight), when every
// session is done, on SIGINT/SIGTERM, or at the hard --timeout. Its handlers
// run on its own strand.
class runner : public std::enable_shared_from_this<runner> {
 public:
    runner(net::io_context& io, run_state& state)
        : io_(io),
          state_(state),
          opts_(state.opts),
          strand_(net::make_strand(io)),
          stop_timer_(strand_),
          drain_timer_(strand_),
          deadline_timer_(strand_),
          progress_timer_(strand_),
          signals_(strand_, SIGINT, SIGTERM) {
        sessions_.reserve(opts_.connections);
    }

    void start() {
        started_ = clock::now();
        signals_.async_wait([self = shared_from_this()](boost::system::error_code error, int) {
            if (!error) self->on_signal();
        });
        deadline_timer_.expires_after(seconds(opts_.timeout_s));
        deadline_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
            if (!error) self->on_deadline();
        });
        if (opts_.progress_s > 0) schedule_progress();
        net::dispatch(strand_, [self = shared_from_this()] { self->launch_more(); });
    }

    const std::vector<std::shared_ptr<session>>& sessions() const { return sessions_; }
    // After the run: sessions cut off by io_context::stop() still hold the
    // runner through their callbacks.
    void release() { sessions_.clear(); }
    bool interrupted() const { return interrupted_; }

 private:
    void launch_more() {
        while (!launch_stopped_ && sessions_.size() < opts_.connections &&
               connecting_ < opts_.connect_concurrency) {
            const std::size_t index = sessions_.size();
            auto s = make_session(index);
            sessions_.push_back(s);
            ++connecting_;
            s->start([self = shared_from_this()](
                         bool) { net::post(self->strand_, [self] { self->on_ready(); }); },
                     [self = shared_from_this()] {
                         net::post(self->strand_, [self] { self->on_done(1); });
                     });
        }
    }

    std::shared_ptr<session> make_session(std::size_t index) {
        switch (opts_.kind) {
            case transport::websocket:
                return make_ws_session(state_, index, io_);
            case transport::rest:
                return make_rest_session(state_, index, io_);
            case transport::grpc:
                return make_grpc_session(state_, index, io_);
        }
        return nullptr;
    }

    void on_ready() {
        --connecting_;
        ++attempted_;
        if (launch_stopped_) return;
        if (attempted_ < opts_.connections) return launch_more();
        begin_all();
    }

    void begin_all() {
        const auto now = clock::now();
        state_.start_sending = now;
        state_.measure_start = now + seconds(opts_.warmup_s);
        began_ = true;
        std::fprintf(stderr, "[loadgen] %.1fs: connections up: opened=%llu failed=%llu of %zu\n",
                     elapsed(), static_cast<unsigned long long>(state_.connected.load()),
                     static_cast<unsigned long long>(state_.connect_failed.load()),
                     opts_.connections);
        // The post to each strand publishes start_sending and measure_start.
        for (auto& s : sessions_) s->begin();
        if (opts_.duration_s > 0) {
            stop_timer_.expires_at(state_.measure_start + seconds(opts_.duration_s));
            stop_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
                if (!error) self->stop_all();
            });
        }
    }

    // No more requests; answers in flight get --drain-timeout.
    void stop_all() {
        if (stopping_) return;
        stopping_ = true;
        stop_timer_.cancel();
        stop_launching();
        for (auto& s : sessions_) s->stop();
        drain_timer_.expires_after(seconds(opts_.drain_timeout_s));
        drain_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
            if (!error) self->finish_all();
        });
    }

    void finish_all() {
        stop_launching();
        for (auto& s : sessions_) s->finish();
    }

    void stop_launching() {
        if (launch_stopped_) return;
        launch_stopped_ = true;
        // The sessions never started are done already.
        on_done(opts_.connections - sessions_.size());
    }

    void on_signal() {
        interrupted_ = true;
        std::fprintf(stderr, "[loadgen] %.1fs: signal: stopping\n", elapsed());
        if (began_) {
            stop_all();
        } else {
            finish_all();
        }
        // A second signal closes everything at once.
        signals_.async_wait([self = shared_from_this()](boost::system::error_code error, int) {
            if (!error) self->finish_all();
        });
    }

    void on_deadline() {
        std::fprintf(stderr, "[loadgen] %.1fs: --timeout reached: closing every connection\n",
                     elapsed());
        finish_all();
        // Whatever still hangs after this is cut by stopping the io_context.
        deadline_timer_.expires_after(std::chrono::seconds(5));
        deadline_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
            if (!error) self->io_.stop();
        });
    }

    void on_done(std::size_t count) {
        done_ += count;
        if (done_ < opts_.connections) return;
        // Nothing left to wait for: the io_context runs out of work and returns.
        stop_timer_.cancel();
        drain_timer_.cancel();
        deadline_timer_.cancel();
        progress_timer_.cancel();
        signals_.cancel();
        signals_.clear();
        finished_ = true;
    }

    void schedule_progress() {
        progress_timer_.expires_after(seconds(opts_.progress_s));
        progress_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
            if (error || self->finished_) return;
            self->print_progress();
            self->schedule_progress();
        });
    }

    void print_progress() {
        std::fprintf(stderr,
                     "[loadgen] %.1fs: connected=%llu failed=%llu lost=%llu sent=%llu acked=%llu\n",
                     elapsed(), static_cast<unsigned long long>(state_.connected.load()),
                     static_cast<unsigned long long>(state_.connect_failed.load()),
                     static_cast<unsigned long long>(state_.lost.load()),
                     static_cast<unsigned long long>(state_.sent.load()),
                     static_cast<unsigned long long>(state_.acks.load()));
    }

    double elapsed() const {
        return std::chrono::duration<double>(clock::now() - started_).count();
    }

    net::io_context& io_;
    run_state& state_;
    const options& opts_;
    net::strand<net::io_context::executor_type> strand_;
    net::steady_timer stop_timer_;
    net::steady_timer drain_timer_;
    net::steady_timer deadline_timer_;
    net::steady_timer progress_timer_;
    net::signal_set signals_;

    std::vector<std::shared_ptr<session>> sessions_;
    clock::time_point started_{};
    std::size_t connecting_ = 0;
    std::size_t attempted_ = 0;
    std::size_t done_ = 0;
    bool launch_stopped_ = false;
    bool began_ = false;
    bool stopping_ = false;
    bool finished_ = false;
    bool interrupted_ = false;
};

}  // namespace

const char* transport_name(transport kind) {
    switch (kind) {
        case transport::websocket:
            return "websocket";
        case transport::rest:
            return "rest";
        case transport::grpc:
            return "grpc";
    }
    return "unknown";
}

void stats::merge(const stats& other) {
    requests_sent += other.requests_sent;
    events_sent += other.events_sent;
    acks_ok += other.acks_ok;
    acks_error += other.acks_error;
    events_acked_ok += other.events_acked_ok;
    unmatched_acks += other.unmatched_acks;
    bad_acks += other.bad_acks;
    refusals += other.refusals;
    for (std::size_t i = 0; i < error_codes.size(); ++i) error_codes[i] += other.error_codes[i];
    for (const auto& [what, count] : other.transport_errors) transport_errors[what] += count;
    measured_acks += other.measured_acks;
    measured_events += other.measured_events;
    last_measured_ack = std::max(last_measured_ack, other.last_measured_ack);
    latency.merge(other.latency);
    schedule_lag.merge(other.schedule_lag);
}

stats& run_state::local() {
    thread_local stats* mine = nullptr;
    thread_local const run_state* owner = nullptr;
    if (owner != this) {
        std::lock_guard lock(mutex_);
        per_thread_.push_back(std::make_unique<stats>());
        mine = per_thread_.back().get();
        owner = this;
    }
    return *mine;
}

stats run_state::merged() const {
    std::lock_guard lock(mutex_);
    stats out;
    for (const auto& s : per_thread_) out.merge(*s);
    return out;
}

void run_state::print_ack(const ack& a) {
    const std::string line = ack_json_line(a);
    std::lock_guard lock(mutex_);
    std::fwrite(line.data(), 1, line.size(), stdout);
}

run_result run(const options& opts) {
    // Signals are handled by the runner's signal_set; keep them from the
    // extra io threads' default disposition until it is in place.
    net::io_context io(static_cast<int>(opts.threads));
    run_state state(opts);
    auto r = std::make_shared<runner>(io, state);
    r->start();

    std::vector<std::thread> threads;
    for (unsigned i = 1; i < opts.threads; ++i) threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : threads) t.join();
    std::fflush(stdout);

    run_result result;
    result.totals = state.merged();
    for (const auto& s : r->sessions()) result.unacked += s->unacked();
    result.connections_opened = state.connected.load();
    result.connections_failed = state.connect_failed.load();
    result.connections_lost = state.lost.load();
    if (result.totals.measured_acks > 0 && result.totals.last_measured_ack > state.measure_start) {
        result.measured_seconds =
            std::chrono::duration<double>(result.totals.last_measured_ack - state.measure_start)
                .count();
    }
    result.interrupted = r->interrupted();
    r->release();
    return result;
}

}  // namespace raccoon::loadgen
