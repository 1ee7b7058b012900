#pragma once

#include <cstdint>
#include <raccoon/metrics/registry.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace raccoon::metrics {

// The Prometheus text exposition format, version 0.0.4.
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";
std::string to_prometheus_text(const std::vector<family_reading>& families);

// statsd lines with tags the InfluxDB/Telegraf way, as upstream sends them:
// `name,tag=value,tag=value:3|c`. Each call sends what changed since the
// previous one: counters as their increase, gauges as their value, and
// histograms as one timing per bucket that gained observations, its value the
// mean of those observations and its sample rate 1/count, so that a collector
// counts every observation.
class statsd_lines {
 public:
    std::vector<std::string> since_last(const std::vector<family_reading>& families);

 private:
    std::unordered_map<const void*, double> counters_sent_;
    std::unordered_map<const void*, histogram::reading> histograms_sent_;
};

// Packs lines into datagrams of at most `max_bytes`, newline-separated; a
// line longer than that travels alone.
std::vector<std::string> pack_datagrams(const std::vector<std::string>& lines,
                                        std::size_t max_bytes);

}  // namespace raccoon::metrics
