#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <raccoon/metrics/catalog.hpp>
#include <raccoon/metrics/registry.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

namespace raccoon::metrics {
namespace {

family_reading find(const std::vector<family_reading>& families, std::string_view name) {
    for (const auto& f : families) {
        if (f.name == name) return f;
    }
    throw std::out_of_range(std::string(name));
}

TEST(Registry, CountsPerLabelValues) {
    registry r;
    auto& requests = r.add_counter("requests_total", "Requests", {"group", "type"});
    requests.with({"g1", "click"}).add();
    requests.with({"g1", "click"}).add(2);
    requests.with({"g2", "view"}).add(5);

    const family_reading f = find(r.read(), "requests_total");
    ASSERT_EQ(f.series.size(), 2u);
    EXPECT_EQ(f.series[0].labels, (std::vector<std::pair<std::string, std::string>>{
                                      {"group", "g1"}, {"type", "click"}}));
    EXPECT_EQ(f.series[0].value, 3);
    EXPECT_EQ(f.series[1].value, 5);
}

TEST(Registry, TheSameLabelValuesGiveTheSameCell) {
    registry r;
    auto& c = r.add_counter("c_total", "c", {"l"});
    EXPECT_EQ(&c.with({"x"}), &c.with({"x"}));
    EXPECT_NE(&c.with({"x"}), &c.with({"y"}));
}

TEST(Registry, SeriesAskedForInTurnKeepTheirOwnCells) {
    // A family remembers the series it found last on this thread; asking for
    // others in between, in it and in families that may share its slot, must
    // not hand that one out for them.
    registry r;
    std::vector<counter_family*> families;
    for (int i = 0; i < 70; ++i) {
        families.push_back(&r.add_counter("c" + std::to_string(i) + "_total", "c", {"l"}));
    }
    for (int round = 0; round < 3; ++round) {
        for (auto* f : families) {
            f->with({"x"}).add();
            f->with({"y"}).add(10);
        }
    }
    for (int i = 0; i < 70; ++i) {
        const family_reading f = find(r.read(), "c" + std::to_string(i) + "_total");
        ASSERT_EQ(f.series.size(), 2u);
        EXPECT_EQ(f.series[0].value, 3);
        EXPECT_EQ(f.series[1].value, 30);
    }
}

TEST(Registry, AnUnlabelledMetricReadsZeroBeforeItsFirstUse) {
    registry r;
    r.add_counter("errors_total", "Errors");
    const family_reading f = find(r.read(), "errors_total");
    ASSERT_EQ(f.series.size(), 1u);
    EXPECT_TRUE(f.series[0].labels.empty());
    EXPECT_EQ(f.series[0].value, 0);
}

TEST(Registry, GaugesGoUpAndDownAndCanBeSet) {
    registry r;
    auto& g = r.add_gauge("connections", "Connections", {"group"});
    g.with({"a"}).add(3);
    g.with({"a"}).add(-1);
    EXPECT_EQ(g.with({"a"}).value(), 2);
    g.with({"a"}).set(7.5);
    EXPECT_EQ(find(r.read(), "connections").series[0].value, 7.5);
}

TEST(Registry, HistogramBucketsCountAndSumWhatFellInThem) {
    registry r;
    auto& h = r.add_histogram("latency_ms", "Latency", {}, {1, 10});
    h.with({}).observe(0.5);
    h.with({}).observe(1);  // an upper bound is inclusive, as Prometheus's le
    h.with({}).observe(4);
    h.with({}).observe(100);

    const family_reading f = find(r.read(), "latency_ms");
    EXPECT_EQ(f.upper_bounds, (std::vector<double>{1, 10}));
    const auto& reading = f.series[0].buckets;
    EXPECT_EQ(reading.counts, (std::vector<std::uint64_t>{2, 1, 1}));
    EXPECT_EQ(reading.sums, (std::vector<double>{1.5, 4, 100}));
    EXPECT_EQ(reading.count, 4u);
    EXPECT_EQ(reading.sum, 105.5);
}

TEST(Registry, RefusesBadDefinitionsAndWrongLabelCounts) {
    registry r;
    auto& c = r.add_counter("c_total", "c", {"a", "b"});
    EXPECT_THROW(r.add_counter("c_total", "again"), std::invalid_argument);
    EXPECT_THROW(r.add_histogram("h", "h", {}, {5, 1}), std::invalid_argument);
    EXPECT_THROW(c.with({"only-one"}), std::invalid_argument);
}

TEST(Registry, FoldsLabelValuesBeyondTheLimitIntoOther) {
    registry r;
    r.limit_label_values("event_type", 2);
    auto& rx = r.add_counter("rx_total", "rx", {"conn_group", "event_type"});
    auto& bytes = r.add_counter("rx_bytes_total", "bytes", {"event_type"});
    rx.with({"g", "a"}).add();
    rx.with({"g", "b"}).add();
    rx.with({"g", "c"}).add();
    rx.with({"g", "d"}).add();
    rx.with({"g", "a"}).add();
    // The limit is per label across families: "a" and "b" are the two admitted.
    bytes.with({"c"}).add(10);
    bytes.with({"b"}).add(1);

    const auto readings = r.read();
    std::map<std::string, double> by_type;
    for (const auto& s : find(readings, "rx_total").series) by_type[s.labels[1].second] = s.value;
    EXPECT_EQ(by_type, (std::map<std::string, double>{{"a", 2}, {"b", 1}, {"other", 2}}));
    std::map<std::string, double> bytes_by_type;
    for (const auto& s : find(readings, "rx_bytes_total").series) {
        bytes_by_type[s.labels[0].second] = s.value;
    }
    EXPECT_EQ(bytes_by_type, (std::map<std::string, double>{{"b", 1}, {"other", 10}}));
    // Labels without a limit are not folded.
    for (int i = 0; i < 10; ++i) rx.with({"group-" + std::to_string(i), "a"}).add();
    EXPECT_EQ(find(r.read(), "rx_total").series.size(), 13u);
}

TEST(Registry, ManyThreadsCountingLoseNothing) {
    registry r;
    auto& c = r.add_counter("events_total", "events", {"type"});
    auto& h = r.add_histogram("latency_ms", "latency", {"type"}, {1, 2});
    constexpr int threads = 4;
    constexpr int per_thread = 20000;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&c, &h, t] {
            for (int i = 0; i < per_thread; ++i) {
                const std::string type = "type-" + std::to_string((i + t) % 3);
                c.with({type}).add();
                h.with({type}).observe(1.5);
            }
        });
    }
    for (auto& w : workers) w.join();

    double total = 0;
    std::uint64_t observed = 0;
    const auto readings = r.read();
    for (const auto& s : find(readings, "events_total").series) total += s.value;
    for (const auto& s : find(readings, "latency_ms").series) observed += s.buckets.counts[1];
    EXPECT_EQ(total, threads * per_thread);
    EXPECT_EQ(observed, static_cast<std::uint64_t>(threads * per_thread));
}

TEST(Registry, ReadRunsTheRefreshersFirst) {
    registry r;
    auto& depth = r.add_gauge("depth", "depth");
    int calls = 0;
    auto handle = r.on_read([&] { depth.with({}).set(++calls * 10); });
    EXPECT_EQ(find(r.read(), "depth").series[0].value, 10);
    EXPECT_EQ(find(r.read(), "depth").series[0].value, 20);
    // Once its handle is gone, the refresher is not called.
    handle.reset();
    EXPECT_EQ(find(r.read(), "depth").series[0].value, 20);
    EXPECT_EQ(calls, 2);
}

TEST(Registry, TwoRegistriesInOneThreadDoNotShareCells) {
    // The per-thread cache is keyed by family, never by address alone.
    for (int round = 0; round < 3; ++round) {
        registry r;
        r.add_counter("c_total", "c", {"l"}).with({"x"}).add();
        EXPECT_EQ(find(r.read(), "c_total").series[0].value, 1);
    }
}

TEST(Catalog, ProcessFiguresComeFromProc) {
    registry r;
    catalog metrics(r);
    refresh_process_figures(metrics);
    EXPECT_GT(metrics.process_resident_memory_bytes.with({}).value(), 1024 * 1024);
    EXPECT_GE(metrics.process_threads.with({}).value(), 1);
    EXPECT_GE(metrics.process_open_fds.with({}).value(), 3);  // stdin, stdout, stderr
    EXPECT_GE(metrics.process_cpu_seconds_total.with({}).value(), 0);
}

}  // namespace
}  // namespace raccoon::metrics
