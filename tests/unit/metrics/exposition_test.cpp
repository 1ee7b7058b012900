#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <raccoon/metrics/exposition.hpp>

namespace raccoon::metrics {
namespace {

using ::testing::ElementsAre;

TEST(PrometheusText, CountersAndGaugesWithHelpAndType) {
    registry r;
    r.add_counter("events_rx_total", "Number of events received", {"conn_group", "event_type"})
        .with({"web", "click"})
        .add(3);
    r.add_gauge("connections_count_current", "Alive connections", {"conn_group"})
        .with({"web"})
        .set(2);
    r.add_gauge("rtt_ms", "Round trip").with({}).set(0.25);

    EXPECT_EQ(to_prometheus_text(r.read()),
              "# HELP events_rx_total Number of events received\n"
              "# TYPE events_rx_total counter\n"
              "events_rx_total{conn_group=\"web\",event_type=\"click\"} 3\n"
              "# HELP connections_count_current Alive connections\n"
              "# TYPE connections_count_current gauge\n"
              "connections_count_current{conn_group=\"web\"} 2\n"
              "# HELP rtt_ms Round trip\n"
              "# TYPE rtt_ms gauge\n"
              "rtt_ms 0.25\n");
}

TEST(PrometheusText, HistogramsHaveCumulativeBucketsSumAndCount) {
    registry r;
    auto& h = r.add_histogram("latency_milliseconds", "Latency", {"worker"}, {0.5, 5});
    h.with({"worker-0"}).observe(0.25);
    h.with({"worker-0"}).observe(3);
    h.with({"worker-0"}).observe(9);

    EXPECT_EQ(to_prometheus_text(r.read()),
              "# HELP latency_milliseconds Latency\n"
              "# TYPE latency_milliseconds histogram\n"
              "latency_milliseconds_bucket{worker=\"worker-0\",le=\"0.5\"} 1\n"
              "latency_milliseconds_bucket{worker=\"worker-0\",le=\"5\"} 2\n"
              "latency_milliseconds_bucket{worker=\"worker-0\",le=\"+Inf\"} 3\n"
              "latency_milliseconds_sum{worker=\"worker-0\"} 12.25\n"
              "latency_milliseconds_count{worker=\"worker-0\"} 3\n");
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
    registry r;
    r.add_counter("c_total", "a \\ b\nc \"quoted\"", {"l"}).with({"x\"y\\z\nw"}).add();
    EXPECT_EQ(to_prometheus_text(r.read()),
              "# HELP c_total a \\\\ b\\nc \"quoted\"\n"
              "# TYPE c_total counter\n"
              "c_total{l=\"x\\\"y\\\\z\\nw\"} 1\n");
}

TEST(PrometheusText, FamiliesWithoutSeriesAreLeftOut) {
    registry r;
    r.add_counter("never_used_total", "n", {"l"});
    EXPECT_EQ(to_prometheus_text(r.read()), "");
}

TEST(StatsdLines, CountersSendTheirIncreaseOnlyWhenTheyChanged) {
    registry r;
    auto& c = r.add_counter("events_rx_total", "e", {"conn_group", "event_type"});
    statsd_lines lines;
    c.with({"web", "click"}).add(3);
    EXPECT_THAT(lines.since_last(r.read()),
                ElementsAre("events_rx_total,conn_group=web,event_type=click:3|c"));
    EXPECT_THAT(lines.since_last(r.read()), ElementsAre());
    c.with({"web", "click"}).add(2);
    EXPECT_THAT(lines.since_last(r.read()),
                ElementsAre("events_rx_total,conn_group=web,event_type=click:2|c"));
}

TEST(StatsdLines, GaugesSendTheirValueEveryTime) {
    registry r;
    auto& g = r.add_gauge("connections_count_current", "c", {"conn_group"});
    g.with({"web"}).set(4);
    statsd_lines lines;
    EXPECT_THAT(lines.since_last(r.read()),
                ElementsAre("connections_count_current,conn_group=web:4|g"));
    EXPECT_THAT(lines.since_last(r.read()),
                ElementsAre("connections_count_current,conn_group=web:4|g"));
    g.with({"web"}).set(-2);
    EXPECT_THAT(lines.since_last(r.read()),
                ElementsAre("connections_count_current,conn_group=web:0|g",
                            "connections_count_current,conn_group=web:-2|g"));
}

TEST(StatsdLines, HistogramsSendOneSampledTimingPerBucketThatGrew) {
    registry r;
    auto& h = r.add_histogram("latency_milliseconds", "l", {}, {1, 10});
    h.with({}).observe(0.5);
    h.with({}).observe(2);
    h.with({}).observe(4);
    h.with({}).observe(6);
    statsd_lines lines;
    const auto first = lines.since_last(r.read());
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0], "latency_milliseconds:0.5|ms");
    // Three observations with mean 4: a collector multiplies by 1/rate.
    EXPECT_THAT(first[1], ::testing::StartsWith("latency_milliseconds:4|ms|@0.33333333"));
    const double rate = std::stod(first[1].substr(first[1].find('@') + 1));
    EXPECT_EQ(static_cast<int>(1.0 / rate), 3);

    h.with({}).observe(20);
    EXPECT_THAT(lines.since_last(r.read()), ElementsAre("latency_milliseconds:20|ms"));
}

TEST(StatsdLines, SyntaxCharactersInNamesAndValuesBecomeUnderscores) {
    registry r;
    r.add_counter("c_total", "c", {"event_type", "reason"}).with({"a,b=c:d|e f", ""}).add();
    statsd_lines lines;
    EXPECT_THAT(lines.since_last(r.read()),
                ElementsAre("c_total,event_type=a_b_c_d_e_f,reason=NA:1|c"));
}

TEST(StatsdDatagrams, PackLinesUpToTheSizeLimit) {
    EXPECT_THAT(pack_datagrams({"aaaa", "bbbb", "cccc"}, 9), ElementsAre("aaaa\nbbbb", "cccc"));
    EXPECT_THAT(pack_datagrams({"a-line-too-long", "b"}, 5), ElementsAre("a-line-too-long", "b"));
    EXPECT_THAT(pack_datagrams({}, 100), ElementsAre());
}

}  // namespace
}  // namespace raccoon::metrics
