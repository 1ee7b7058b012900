#include <charconv>
#include <cmath>
#include <raccoon/metrics/exposition.hpp>

namespace raccoon::metrics {
namespace {

void append_number(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
        return;
    }
    if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buffer[32];
    std::to_chars_result written;
    // Integral values (every counter) print without an exponent or ".0".
    if (std::trunc(value) == value && std::fabs(value) < 1e15) {
        written = std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(value));
    } else {
        written = std::to_chars(buffer, buffer + sizeof buffer, value);
    }
    out.append(buffer, written.ptr);
}

void append_escaped(std::string& out, std::string_view text, bool quotes) {
    for (char c : text) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '"':
                out += quotes ? "\\\"" : "\"";
                break;
            default:
                out.push_back(c);
        }
    }
}

void append_labels(std::string& out, const std::vector<std::pair<std::string, std::string>>& labels,
                   std::string_view le = {}) {
    if (labels.empty() && le.empty()) return;
    out.push_back('{');
    bool first = true;
    for (const auto& [name, value] : labels) {
        if (!first) out.push_back(',');
        first = false;
        out += name;
        out += "=\"";
        append_escaped(out, value, true);
        out.push_back('"');
    }
    if (!le.empty()) {
        if (!first) out.push_back(',');
        out += "le=\"";
        out += le;
        out.push_back('"');
    }
    out.push_back('}');
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const std::vector<std::pair<std::string, std::string>>& labels, double value,
                   std::string_view le = {}) {
    out += name;
    out += suffix;
    append_labels(out, labels, le);
    out.push_back(' ');
    append_number(out, value);
    out.push_back('\n');
}

std::string_view type_name(metric_type type) {
    switch (type) {
        case metric_type::counter:
            return "counter";
        case metric_type::gauge:
            return "gauge";
        case metric_type::histogram:
            return "histogram";
    }
    return "untyped";
}

// statsd has no quoting: the characters of its syntax become '_'.
void append_statsd_safe(std::string& out, std::string_view text) {
    for (char c : text) {
        const bool special = c == ',' || c == '=' || c == ':' || c == '|' || c == '@' || c == '#' ||
                             c == ' ' || c == '\n' || c == '\r';
        out.push_back(special ? '_' : c);
    }
}

std::string statsd_bucket(const family_reading& family, const series_reading& series) {
    std::string bucket;
    append_statsd_safe(bucket, family.name);
    for (const auto& [name, value] : series.labels) {
        bucket.push_back(',');
        append_statsd_safe(bucket, name);
        bucket.push_back('=');
        append_statsd_safe(bucket, value.empty() ? std::string_view("NA") : value);
    }
    return bucket;
}

std::string statsd_line(const std::string& bucket, double value, std::string_view type) {
    std::string line = bucket;
    line.push_back(':');
    append_number(line, value);
    line.push_back('|');
    line += type;
    return line;
}

}  // namespace

std::string to_prometheus_text(const std::vector<family_reading>& families) {
    std::string out;
    for (const auto& family : families) {
        if (family.series.empty()) continue;
        out += "# HELP ";
        out += family.name;
        out.push_back(' ');
        append_escaped(out, family.help, false);
        out += "\n# TYPE ";
        out += family.name;
        out.push_back(' ');
        out += type_name(family.type);
        out.push_back('\n');
        for (const auto& series : family.series) {
            if (family.type != metric_type::histogram) {
                append_sample(out, family.name, "", series.labels, series.value);
                continue;
            }
            const auto& h = series.buckets;
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i < family.upper_bounds.size(); ++i) {
                cumulative += h.counts[i];
                std::string le;
                append_number(le, family.upper_bounds[i]);
                append_sample(out, family.name, "_bucket", series.labels,
                              static_cast<double>(cumulative), le);
            }
            append_sample(out, family.name, "_bucket", series.labels, static_cast<double>(h.count),
                          "+Inf");
            append_sample(out, family.name, "_sum", series.labels, h.sum);
            append_sample(out, family.name, "_count", series.labels, static_cast<double>(h.count));
        }
    }
    return out;
}

std::vector<std::string> statsd_lines::since_last(const std::vector<family_reading>& families) {
    std::vector<std::string> lines;
    for (const auto& family : families) {
        for (const auto& series : family.series) {
            switch (family.type) {
                case metric_type::counter: {
                    double& sent = counters_sent_[series.identity];
                    if (series.value > sent) {
                        lines.push_back(
                            statsd_line(statsd_bucket(family, series), series.value - sent, "c"));
                        sent = series.value;
                    }
                    break;
                }
                case metric_type::gauge: {
                    const std::string bucket = statsd_bucket(family, series);
                    // A signed gauge value means "change by" in statsd: a
                    // negative value is sent as a reset to 0, then the change.
                    if (series.value < 0) lines.push_back(statsd_line(bucket, 0, "g"));
                    lines.push_back(statsd_line(bucket, series.value, "g"));
                    break;
                }
                case metric_type::histogram: {
                    histogram::reading& sent = histograms_sent_[series.identity];
                    const auto& now = series.buckets;
                    sent.counts.resize(now.counts.size());
                    sent.sums.resize(now.sums.size());
                    const std::string bucket = statsd_bucket(family, series);
                    for (std::size_t i = 0; i < now.counts.size(); ++i) {
                        const std::uint64_t n = now.counts[i] - sent.counts[i];
                        if (n == 0) continue;
                        std::string line =
                            statsd_line(bucket, (now.sums[i] - sent.sums[i]) / n, "ms");
                        if (n > 1) {
                            // Rounded down a little so that a collector's
                            // 1/rate, truncated, gives back n.
                            line += "|@";
                            char rate[32];
                            auto written =
                                std::to_chars(rate, rate + sizeof rate,
                                              (1.0 / static_cast<double>(n)) * (1.0 - 1e-8),
                                              std::chars_format::general, 9);
                            line.append(rate, written.ptr);
                        }
                        lines.push_back(std::move(line));
                    }
                    sent = now;
                    break;
                }
            }
        }
    }
    return lines;
}

std::vector<std::string> pack_datagrams(const std::vector<std::string>& lines,
                                        std::size_t max_bytes) {
    std::vector<std::string> datagrams;
    std::string current;
    for (const auto& line : lines) {
        if (!current.empty() && current.size() + 1 + line.size() > max_bytes) {
            datagrams.push_back(std::move(current));
            current.clear();
        }
        if (!current.empty()) current.push_back('\n');
        current += line;
    }
    if (!current.empty()) datagrams.push_back(std::move(current));
    return datagrams;
}

}  // namespace raccoon::metrics
