#include <raccoon/metrics/catalog.hpp>
#include <raccoon/publisher/kafka/kafka_metrics.hpp>

namespace raccoon::publisher::kafka {

kafka_metrics::kafka_metrics(metrics::registry& r)
    : kafka_messages_delivered_total(r.add_counter("kafka_messages_delivered_total",
                                                   "Number of delivered events to Kafka",
                                                   {"success", "conn_group", "event_type"})),
      kafka_messages_undelivered_total(r.add_counter("kafka_messages_undelivered_total",
                                                     "Number of events not delivered to Kafka",
                                                     {"success", "conn_group", "event_type"})),
      kafka_unknown_topic_failure_total(
          r.add_counter("kafka_unknown_topic_failure_total",
                        "Number of delivery failure caused by topic does not exist in kafka.",
                        {"topic", "event_type"})),
      kafka_tx_messages_total(
          r.add_gauge("kafka_tx_messages_total",
                      "Total number of messages transmitted produced to Kafka brokers.")),
      kafka_tx_messages_bytes_total(
          r.add_gauge("kafka_tx_messages_bytes_total",
                      "Total number of message bytes (including framing, such as per-Message "
                      "framing and MessageSet/batch framing) transmitted to Kafka brokers")),
      kafka_brokers_tx_total(r.add_gauge(
          "kafka_brokers_tx_total", "Total number of requests sent to Kafka brokers", {"broker"})),
      kafka_brokers_tx_bytes_total(r.add_gauge("kafka_brokers_tx_bytes_total",
                                               "Total number of bytes transmitted to Kafka brokers",
                                               {"broker"})),
      kafka_brokers_rtt_average_milliseconds(r.add_gauge(
          "kafka_brokers_rtt_average_milliseconds",
          "Broker round-trip time, average over the last statistics window", {"broker"})) {}

kafka_metrics& process_metrics() {
    static kafka_metrics m(metrics::global_registry());
    return m;
}

}  // namespace raccoon::publisher::kafka
