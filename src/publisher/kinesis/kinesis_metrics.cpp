#include <raccoon/metrics/catalog.hpp>
#include <raccoon/publisher/kinesis/kinesis_metrics.hpp>

namespace raccoon::publisher::kinesis {

kinesis_metrics::kinesis_metrics(metrics::registry& r)
    : kinesis_messages_delivered_total(r.add_counter(
          "kinesis_messages_delivered_total", "Number of events successfully delivered to Kinesis",
          {"stream", "conn_group", "event_type"})),
      kinesis_messages_undelivered_total(r.add_counter("kinesis_messages_undelivered_total",
                                                       "Number of events not delivered to Kinesis",
                                                       {"stream", "conn_group", "event_type"})),
      kinesis_unknown_stream_failure_total(
          r.add_counter("kinesis_unknown_stream_failure_total",
                        "Number of delivery failures caused by non-existence of stream in Kinesis",
                        {"stream", "conn_group", "event_type"})),
      kinesis_stream_throughput_exceeded_total(
          r.add_counter("kinesis_stream_throughput_exceeded_total",
                        "Number of records Kinesis refused for exceeding shard throughput limits, "
                        "retries included",
                        {"stream", "conn_group", "event_type"})),
      kinesis_streams_limit_exceeded_total(
          r.add_counter("kinesis_streams_limit_exceeded_total",
                        "Number of delivery failures caused by Kinesis refusing to create a stream "
                        "(too many streams or shards, or too many being created at once)",
                        {"stream", "conn_group", "event_type"})),
      kinesis_outstanding_messages(
          r.add_gauge("kinesis_outstanding_messages",
                      "Events handed to the Kinesis publisher and not yet delivered or failed")),
      kinesis_outstanding_bytes(r.add_gauge(
          "kinesis_outstanding_bytes", "Bytes of the events in kinesis_outstanding_messages")) {}

kinesis_metrics& process_metrics() {
    static kinesis_metrics m(metrics::global_registry());
    return m;
}

}  // namespace raccoon::publisher::kinesis
