#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <raccoon/core/batch.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace raccoon::publisher {

// Where the workers hand batches. Each implementation is a folder of its own
// (kafka/, log/, ...), listed in registry.cpp; app names none of them.
class publisher {
 public:
    virtual ~publisher() = default;

    // Publishes every event of the batch to its event.topic. Each event's
    // outcome reaches the batch through report_delivery() (or, for several
    // delivered at once, report_deliveries()), on any thread.
    // Called by several workers at once. Never drops an event: while the
    // client's queue is full it waits, until stop_waiting().
    virtual void publish(std::unique_ptr<core::batch> batch) = 0;

    // Waits up to `timeout` for everything published to be delivered, then
    // fails what is left. Returns how many events were failed that way.
    virtual std::size_t flush(std::chrono::milliseconds timeout) = 0;

    // How long a shutdown's flush waits: the publisher's own setting.
    virtual std::chrono::milliseconds flush_timeout() const = 0;

    // Makes publish() fail what it cannot enqueue now instead of waiting for
    // room; used once a shutdown's drain time is over.
    virtual void stop_waiting() = 0;

    // Whether the destination answers now (Kafka: a broker answered a metadata
    // request). May block up to about a second: call it off the data path.
    virtual bool connected() const { return true; }

    // The topics the destination holds now, or nullopt when it cannot tell.
    // May block up to about a second: call it off the data path.
    virtual std::optional<std::vector<std::string>> existing_topics() const { return std::nullopt; }

    virtual std::string_view name() const noexcept = 0;
};

}  // namespace raccoon::publisher
