#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "loadgen.hpp"
#include "messages.hpp"

namespace {

using namespace raccoon::loadgen;

// Each connection is a descriptor: take the hard limit, and say so when even
// that is too low.
void raise_descriptor_limit(const options& opts) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < opts.connections + 64) {
        std::fprintf(stderr,
                     "[loadgen] warning: %zu connections need more descriptors than the limit "
                     "(%llu); raise it with ulimit -n\n",
                     opts.connections, static_cast<unsigned long long>(limit.rlim_cur));
    }
}

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

nlohmann::json percentiles_us(const histogram& h) {
    return {{"count", h.count()},
            {"min", us(h.min())},
            {"mean", h.mean() / 1000.0},
            {"p50", us(h.value_at(0.50))},
            {"p90", us(h.value_at(0.90))},
            {"p99", us(h.value_at(0.99))},
            {"p99_9", us(h.value_at(0.999))},
            {"max", us(h.max())}};
}

nlohmann::json summary_json(const options& o, const run_result& r, bool success) {
    const stats& t = r.totals;
    const double secs = r.measured_seconds;
    nlohmann::json errors = nlohmann::json::object();
    for (std::size_t code = 0; code < t.error_codes.size(); ++code) {
        if (t.error_codes[code] == 0) continue;
        const std::string name =
            code + 1 == t.error_codes.size() ? "CODE_UNKNOWN" : code_name(static_cast<int>(code));
        errors[name] = t.error_codes[code];
    }
    nlohmann::json transport_errors = nlohmann::json::object();
    for (const auto& [what, count] : t.transport_errors) transport_errors[what] = count;
    const char* mode = o.idle ? "idle" : o.rate > 0 ? "open" : "closed";
    return {
        {"config",
         {{"url", o.url},
          {"transport", transport_name(o.kind)},
          {"format", o.format == wire_format::proto ? "proto" : "json"},
          {"connections", o.connections},
          {"source_addresses", o.source_addresses.size()},
          {"mode", mode},
          {"window", o.window},
          {"rate", o.rate},
          {"requests_per_connection", o.requests},
          {"duration_s", o.duration_s},
          {"warmup_s", o.warmup_s},
          {"batch_size", o.batch_size},
          {"event_size", o.event_size},
          {"event_types", o.event_types},
          {"threads", o.threads},
          {"guid_prefix", o.guid_prefix},
          {"id_prefix", o.id_prefix}}},
        {"connections",
         {{"requested", o.connections},
          {"opened", r.connections_opened},
          {"failed", r.connections_failed},
          {"lost", r.connections_lost}}},
        {"requests",
         {{"sent", t.requests_sent},
          {"acked_ok", t.acks_ok},
          {"acked_error", t.acks_error},
          {"unacked", r.unacked},
          {"unmatched_acks", t.unmatched_acks},
          {"bad_acks", t.bad_acks},
          {"refusals", t.refusals}}},
        {"events", {{"sent", t.events_sent}, {"acked_ok", t.events_acked_ok}}},
        {"measured",
         {{"seconds", secs},
          {"acks", t.measured_acks},
          {"events_acked_ok", t.measured_events},
          {"acks_per_s", secs > 0 ? static_cast<double>(t.measured_acks) / secs : 0.0},
          {"events_per_s", secs > 0 ? static_cast<double>(t.measured_events) / secs : 0.0}}},
        {"latency_us", percentiles_us(t.latency)},
        {"schedule_lag_us", percentiles_us(t.schedule_lag)},
        {"errors_by_code", errors},
        {"transport_errors", transport_errors},
        {"interrupted", r.interrupted},
        {"success", success},
    };
}

void print_summary(const nlohmann::json& j) {
    const auto& c = j["connections"];
    const auto& q = j["requests"];
    const auto& m = j["measured"];
    const auto& l = j["latency_us"];
    std::printf("raccoon-loadgen %s %s %s, %s\n",
                j["config"]["transport"].get<std::string>().c_str(),
                j["config"]["format"].get<std::string>().c_str(),
                j["config"]["url"].get<std::string>().c_str(),
                j["config"]["mode"].get<std::string>().c_str());
    std::printf("  connections  %llu opened, %llu failed, %llu lost (of %llu)\n",
                c["opened"].get<unsigned long long>(), c["failed"].get<unsigned long long>(),
                c["lost"].get<unsigned long long>(), c["requested"].get<unsigned long long>());
    std::printf(
        "  requests     %llu sent, %llu ok, %llu error, %llu unacked, %llu unmatched, "
        "%llu bad\n",
        q["sent"].get<unsigned long long>(), q["acked_ok"].get<unsigned long long>(),
        q["acked_error"].get<unsigned long long>(), q["unacked"].get<unsigned long long>(),
        q["unmatched_acks"].get<unsigned long long>(), q["bad_acks"].get<unsigned long long>());
    std::printf("  events       %llu sent, %llu acked ok\n",
                j["events"]["sent"].get<unsigned long long>(),
                j["events"]["acked_ok"].get<unsigned long long>());
    std::printf("  measured     %.3f s: %.0f events/s, %.0f acks/s\n", m["seconds"].get<double>(),
                m["events_per_s"].get<double>(), m["acks_per_s"].get<double>());
    std::printf("  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%llu acks)\n",
                l["p50"].get<double>(), l["p90"].get<double>(), l["p99"].get<double>(),
                l["p99_9"].get<double>(), l["max"].get<double>(),
                l["count"].get<unsigned long long>());
    if (const auto& lag = j["schedule_lag_us"]; lag["count"].get<unsigned long long>() > 0) {
        std::printf("  sent late us p50 %.1f  p99 %.1f  max %.1f  (the generator's own lag)\n",
                    lag["p50"].get<double>(), lag["p99"].get<double>(), lag["max"].get<double>());
    }
    if (const auto refusals = q["refusals"].get<unsigned long long>(); refusals > 0) {
        std::printf("  refusals     %llu connections refused after the upgrade\n", refusals);
    }
    for (const auto& [code, count] : j["errors_by_code"].items()) {
        std::printf("  error        %s: %llu\n", code.c_str(), count.get<unsigned long long>());
    }
    for (const auto& [what, count] : j["transport_errors"].items()) {
        std::printf("  transport    %s: %llu\n", what.c_str(), count.get<unsigned long long>());
    }
    std::printf("  result       %s\n", j["success"].get<bool>() ? "ok" : "FAILED");
}

}  // namespace

int main(int argc, char** argv) {
    std::string error;
    const auto opts = parse_options(argc, argv, error);
    if (!opts) {
        if (error.empty()) {
            std::cout << usage();
            return 0;
        }
        std::cerr << "raccoon-loadgen: " << error << "\n\n" << usage();
        return 2;
    }
    raise_descriptor_limit(*opts);

    const run_result result = run(*opts);
    const stats& t = result.totals;
    const bool success = result.connections_failed == 0 && result.connections_lost == 0 &&
                         t.transport_errors.empty() && t.acks_error == 0 && result.unacked == 0 &&
                         t.unmatched_acks == 0 && t.bad_acks == 0 && t.refusals == 0 &&
                         t.acks_ok == t.requests_sent;

    const nlohmann::json summary = summary_json(*opts, result, success);
    print_summary(summary);
    std::fflush(stdout);
    if (!opts->json_out.empty()) {
        std::ofstream out(opts->json_out);
        out << summary.dump(2) << "\n";
        if (!out) {
            std::cerr << "raccoon-loadgen: cannot write " << opts->json_out << "\n";
            return 1;
        }
    }
    return success ? 0 : 1;
}
