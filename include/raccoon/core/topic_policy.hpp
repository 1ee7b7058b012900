#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <raccoon/core/batch.hpp>
#include <raccoon/core/topic_router.hpp>
// GCC 12's <regex> trips -Wmaybe-uninitialized when built with
// -fsanitize=address (a false positive in its NFA's std::function moves).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace raccoon::core {

// What the publisher allows of a topic's name.
struct topic_naming {
    // Why the publisher cannot have a topic of this name; empty when it can.
    std::function<std::string(std::string_view topic)> name_problem;
    // Names the publisher cannot hold side by side map to one key (Kafka's
    // metric names turn '.' into '_'); empty when any two distinct names can.
    std::function<std::string(std::string_view topic)> collision_key;
};

// Why `name` is not 1 to `max_length` characters of [a-zA-Z0-9._-], the names
// Kafka's topics and Kinesis's streams may have, naming `what` (the broker)
// as the one that refuses it; empty when it is such a name.
std::string plain_name_problem(std::string_view name, std::size_t max_length,
                               std::string_view what);

// Which event types a batch may carry, checked where the request is read,
// before the batch reaches the channel: event types come from clients, and
// each new one makes a topic. A type must match EVENT_TYPE_ALLOWED_PATTERN
// (when set), name a topic the publisher can have and that does not collide
// with one it has, and the topics new to the destination are capped per
// minute. Thread-safe: every transport's threads check at once; types seen
// before cost a shared lock and a lookup.
class topic_policy {
 public:
    struct rules {
        std::string pattern;
        // ECMAScript; the whole type must match. Empty allows every type.
        std::string allowed_type_pattern;
        // 0: no cap.
        std::size_t max_new_topics_per_minute = 0;
        topic_naming naming;
    };

    explicit topic_policy(rules r);

    // Success when every type of the batch may be published; otherwise the
    // first refusal, naming the type: errc::bad_request for a type that is
    // not allowed or names no topic the publisher can have,
    // errc::too_many_new_topics past the cap.
    batch_result check(const batch& b, clock::time_point now = clock::now());

    // The topics the destination holds now, read from it now and then:
    // topics among them are not new, and others may not collide with them.
    void set_existing(const std::vector<std::string>& topics);

 private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const noexcept {
            return std::hash<std::string_view>{}(text);
        }
    };
    using string_set = std::unordered_set<std::string, string_hash, std::equal_to<>>;

    // Under the exclusive lock: the refusal of one type not yet allowed, or
    // success with its topic added to `added`.
    batch_result check_new(const std::string& type, clock::time_point now,
                           std::vector<std::string>& added_types,
                           std::vector<std::string>& added_topics);

    const rules rules_;
    std::optional<std::regex> allowed_;
    const topic_router router_;
    std::shared_mutex mutex_;
    // Types already allowed.
    string_set allowed_types_;
    // Each known topic (the destination's, and those allowed here) by its collision key.
    std::unordered_map<std::string, std::string> topics_by_key_;
    string_set existing_;
    bool existing_known_ = false;
    // When each of the last minute's new topics was allowed.
    std::deque<clock::time_point> new_topics_;
};

}  // namespace raccoon::core
