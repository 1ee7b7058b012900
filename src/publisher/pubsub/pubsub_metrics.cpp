#include <raccoon/metrics/catalog.hpp>
#include <raccoon/publisher/pubsub/pubsub_metrics.hpp>

namespace raccoon::publisher::pubsub {

pubsub_metrics::pubsub_metrics(metrics::registry& r)
    : pubsub_messages_delivered_total(r.add_counter("pubsub_messages_delivered_total",
                                                    "Number of events delivered to PubSub",
                                                    {"topic", "conn_group", "event_type"})),
      pubsub_messages_undelivered_total(r.add_counter(
          "pubsub_messages_undelivered_total", "Number of events that were not delivered to PubSub",
          {"topic", "conn_group", "event_type"})),
      pubsub_unknown_topic_failure_total(
          r.add_counter("pubsub_unknown_topic_failure_total",
                        "Number of delivery failures caused by non-existence of topic in PubSub",
                        {"topic", "conn_group", "event_type"})),
      pubsub_topic_throughput_exceeded_total(
          r.add_counter("pubsub_topic_throughput_exceeded_total",
                        "Number of delivery failures caused by exceeding throughput limits on "
                        "PubSub",
                        {"topic", "conn_group", "event_type"})),
      pubsub_topics_limit_exceeded_total(
          r.add_counter("pubsub_topics_limit_exceeded_total",
                        "Number of delivery failures caused by exceeding the limit on number of "
                        "Topics on PubSub",
                        {"topic", "conn_group", "event_type"})),
      pubsub_outstanding_messages(
          r.add_gauge("pubsub_outstanding_messages",
                      "Events handed to the PubSub publisher and not yet answered by PubSub "
                      "(waiting to be sent or in flight)")),
      pubsub_outstanding_bytes(
          r.add_gauge("pubsub_outstanding_bytes",
                      "Bytes of the events handed to the PubSub publisher and not yet answered")) {}

pubsub_metrics& process_metrics() {
    static pubsub_metrics m(metrics::global_registry());
    return m;
}

}  // namespace raccoon::publisher::pubsub
