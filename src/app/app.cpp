#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>
#include <condition_variable>
#include <csignal>
#include <future>
#include <mutex>
#include <raccoon/app/app.hpp>
#include <raccoon/codec/codec.hpp>
#include <raccoon/core/ingestor.hpp>
#include <raccoon/core/readiness.hpp>
#include <raccoon/core/request_error_log.hpp>
#include <raccoon/core/worker_pool.hpp>
#include <raccoon/metrics/catalog.hpp>
#include <raccoon/metrics/exposition.hpp>
#include <raccoon/metrics/statsd_exporter.hpp>
#include <raccoon/publisher/registry.hpp>
#include <raccoon/server/grpc/grpc_server.hpp>
#include <raccoon/server/http/http_server.hpp>
#include <raccoon/server/http/io_pool.hpp>
#include <raccoon/server/http/metrics_server.hpp>
#include <thread>
#include <vector>

#include "json_log_formatter.hpp"

namespace raccoon::app {
namespace {

namespace net = boost::asio;

// How long a shutdown waits, after the publisher's flush, for the last acks to
// be written and their connections to close.
constexpr auto ack_write_grace = std::chrono::seconds(2);

void configure_logging(const config::settings& settings) {
    // stdout belongs to the log publisher's events; our own lines go to stderr.
    auto logger = spdlog::stderr_color_mt("raccoon");
    if (settings.log_format == config::log_encoding::json) {
        logger->set_formatter(std::make_unique<json_log_formatter>());
    }
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(settings.log_level));
    core::request_error_log().set_limit(settings.log_request_errors_per_second);
    core::undelivered_log().set_limit(settings.log_request_errors_per_second);
    codec::route_protobuf_logs();
}

// The exporters METRIC_* asks for; none when both are off. The label limits
// apply to both, and to what is counted before the first scrape.
struct metric_exporters {
    // First, so it goes last: the statsd exporter's final flush still samples.
    std::shared_ptr<void> sampled_figures;
    std::unique_ptr<server::http::metrics_server> prometheus;
    std::unique_ptr<metrics::statsd_exporter> statsd;
};

metric_exporters start_metric_exporters(const config::settings& settings, net::io_context& io,
                                        const core::batch_channel& channel) {
    auto& registry = metrics::global_registry();
    const auto& m = settings.metric;
    registry.limit_label_values("event_type", m.event_type_limit);
    // Topics are named from event types: as many as those.
    registry.limit_label_values("topic", m.event_type_limit);
    registry.limit_label_values("conn_group", m.conn_group_limit);
    metric_exporters exporters;
    exporters.sampled_figures = registry.on_read([&channel] {
        auto& catalog = metrics::global();
        metrics::refresh_process_figures(catalog);
        catalog.channel_batches_current.with({}).set(static_cast<double>(channel.size()));
        catalog.buffer_bytes_current.with({}).set(static_cast<double>(channel.bytes_held()));
    });
    if (m.prometheus_enabled) {
        exporters.prometheus = std::make_unique<server::http::metrics_server>(
            io, settings.server.bind_address, m.prometheus_port, m.prometheus_path,
            [&registry] { return metrics::to_prometheus_text(registry.read()); });
        try {
            exporters.prometheus->start();
        } catch (const boost::system::system_error& e) {
            throw config::invalid_setting(
                "METRIC_PROMETHEUS_PORT", std::to_string(m.prometheus_port),
                "a port free to listen on at " + settings.server.bind_address + " (" +
                    e.code().message() + ")");
        }
        spdlog::info("raccoon: Prometheus metrics at http://{}:{}{}", settings.server.bind_address,
                     exporters.prometheus->port(), m.prometheus_path);
    }
    if (m.statsd_enabled) {
        try {
            exporters.statsd = std::make_unique<metrics::statsd_exporter>(
                registry, m.statsd_address, m.statsd_flush_period);
        } catch (const std::invalid_argument& e) {
            throw config::invalid_setting("METRIC_STATSD_ADDRESS", m.statsd_address, e.what());
        }
        spdlog::info("raccoon: statsd metrics to {} every {} ms", m.statsd_address,
                     m.statsd_flush_period.count());
    }
    return exporters;
}

// Every connection holds a descriptor, and runtimes and shells commonly start
// a process with a soft limit of 1024. Go's runtime, which upstream runs on,
// raises the soft limit to the hard one at start; so does this.
struct open_files_limit {
    rlim_t before = 0;
    rlim_t now = 0;
};

open_files_limit raise_open_files_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return {};
    const rlim_t before = limit.rlim_cur;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
    }
    return {before, limit.rlim_cur};
}

// Said once the server listens, so that a start-up failure stays one line.
void report_open_files_limit(const open_files_limit& limit, const config::settings& settings) {
    if (limit.now != limit.before) {
        spdlog::info("raccoon: open files limit raised from {} to {}", limit.before, limit.now);
    }
    const auto wanted = static_cast<rlim_t>(settings.server.websocket_max_conn);
    if (limit.now != 0 && limit.now != RLIM_INFINITY && limit.now < wanted) {
        spdlog::warn(
            "raccoon: the open files limit ({}) is below SERVER_WEBSOCKET_MAX_CONN ({}): "
            "the system opens no connection past it; raise the hard limit",
            limit.now, wanted);
    }
}

int io_thread_count(const config::settings& settings) {
    if (settings.server.io_threads > 0) return settings.server.io_threads;
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

int run(const config::settings& settings) {
    const publisher::kind& publisher_kind = publisher::find(settings.publisher_type);
    const publisher::builder build_publisher = publisher_kind.prepare(settings);
    configure_logging(settings);
    for (const auto& warning : settings.warnings) spdlog::warn("raccoon: {}", warning);
    const open_files_limit files = raise_open_files_limit();

    core::batch_channel channel(settings.worker.buffer_channel_size,
                                settings.worker.buffer_max_bytes);
    core::topic_policy topics({settings.publisher_pattern, settings.event_type_allowed_pattern,
                               settings.max_new_topics_per_minute, publisher_kind.naming});
    core::ingestor ingestor(channel, settings.event_ack, &topics, settings.ack_deadline);

    const int threads = io_thread_count(settings);
    server::http::io_pool io(threads);
    core::readiness readiness;
    server::http::http_server http(io, settings.server, ingestor, readiness);
    // Listen before the publisher and the workers start: a failure here must
    // not leave workers blocked on the open channel (a hang) or a publisher
    // logging connection attempts.
    boost::system::error_code bad_address;
    net::ip::make_address(settings.server.bind_address, bad_address);
    if (bad_address) {
        throw config::invalid_setting("SERVER_BIND_ADDRESS", settings.server.bind_address,
                                      "an IPv4 or IPv6 address");
    }
    try {
        http.start();
    } catch (const boost::system::system_error& e) {
        throw config::invalid_setting(
            "SERVER_WEBSOCKET_PORT", std::to_string(settings.server.websocket_port),
            "a port free to listen on at " + settings.server.bind_address + " (" +
                e.code().message() + ")");
    }
    server::grpc::grpc_server grpc(settings.server, ingestor);
    try {
        grpc.start();
    } catch (const std::runtime_error& e) {
        throw config::invalid_setting(
            "SERVER_GRPC_PORT", std::to_string(settings.server.grpc_port),
            "a port free to listen on at " + settings.server.bind_address + " (" + e.what() + ")");
    }
    metric_exporters exporters = start_metric_exporters(settings, io.first(), channel);
    // Declared after the transports and the ingestor, so destroyed before
    // them: late delivery reports still find what their acks reach.
    auto publisher = build_publisher();
    core::worker_pool workers(channel, *publisher, settings.publisher_pattern,
                              settings.worker.pool_size);
    workers.start();
    // Readiness and gRPC's health service say SERVING only while the publisher
    // reaches its destination: checked every second, off the data path.
    // The destination's topics, for the topic policy, every topics_refresh_seconds.
    std::jthread health_poller(
        [&grpc, &publisher, &readiness, &topics, &ingestor](std::stop_token stop) {
            pthread_setname_np(pthread_self(), "health");
            std::mutex mutex;
            std::condition_variable_any wake;
            constexpr int topics_refresh_seconds = 30;
            int until_topics = 0;
            int failed_checks = 0;
            while (!stop.stop_requested()) {
                const bool connected = publisher->connected();
                readiness.set_publisher_connected(connected);
                grpc.set_serving(connected);
                // Down after two checks in a row, so a slow first answer at
                // start-up refuses nothing.
                failed_checks = connected ? 0 : failed_checks + 1;
                ingestor.set_destination_reachable(failed_checks < 2);
                if (connected && until_topics-- <= 0) {
                    if (auto existing = publisher->existing_topics()) {
                        topics.set_existing(*existing);
                        until_topics = topics_refresh_seconds;
                    }
                }
                std::unique_lock lock(mutex);
                wake.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
            }
        });
    spdlog::info(
        "raccoon: listening on {}:{} (REST), {}:{} (gRPC), publisher {}, EVENT_ACK={}, {} io "
        "threads",
        settings.server.bind_address, http.port(), settings.server.bind_address, grpc.port(),
        publisher->name(), static_cast<int>(settings.event_ack), threads);
    report_open_files_limit(files, settings);

    std::promise<int> stop_signal;
    net::signal_set signals(io.first(), SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code error, int number) {
        if (!error) stop_signal.set_value(number);
    });

    // The loops keep running while a drain leaves no I/O pending (the acceptor
    // closed, each connection waiting for its ack): acks posted later must
    // still be written.
    io.run();

    const int signal_number = stop_signal.get_future().get();
    // The drain runs to its end, bounded by its own timeouts. A second signal
    // (a supervisor repeating SIGTERM, Ctrl-C twice) must not cut it short,
    // nor kill the process during teardown once the signal set is gone and
    // the default action is back: from here both are ignored.
    signals.clear();
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGTERM, SIG_IGN);
    spdlog::info("raccoon: signal {}, draining", signal_number);

    readiness.set_draining();
    health_poller.request_stop();
    health_poller.join();
    grpc.set_serving(false);
    if (const auto delay = settings.server.shutdown_readiness_delay; delay.count() > 0) {
        // Load balancers see the instance not ready and stop sending it new
        // connections; until they do, whatever comes is still served.
        spdlog::info("raccoon: not ready; serving {} ms more before draining", delay.count());
        std::this_thread::sleep_for(delay);
    }
    http.shutdown();
    // New gRPC calls get UNAVAILABLE and health turns NOT_SERVING; calls in
    // progress are answered as their batches complete in the drain below.
    grpc.stop_accepting();
    channel.close();
    if (std::size_t failed = workers.drain(settings.worker.buffer_flush_timeout); failed > 0) {
        spdlog::error("raccoon: {} batches were not published within {} ms and were failed", failed,
                      settings.worker.buffer_flush_timeout.count());
    }
    publisher->flush(publisher->flush_timeout());
    // What the limits held back is said before the summary, not lost with the process.
    core::request_error_log().say_held();
    core::undelivered_log().say_held();
    if (auto lost = ingestor.undelivered_after_ack(); lost > 0) {
        spdlog::error("raccoon: {} events acked under EVENT_ACK=0 were not delivered", lost);
    }

    const auto deadline = std::chrono::steady_clock::now() + ack_write_grace;
    while ((http.open_connections() > 0 || grpc.calls_in_flight() > 0) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ingestor.stop_deadlines();
    // Any call still unanswered gets UNAVAILABLE; then gRPC closes its connections.
    grpc.shutdown(deadline);
    io.stop();
    spdlog::info("raccoon: stopped");
    return 0;
}

}  // namespace raccoon::app
