#include <algorithm>
#include <cctype>
#include <mutex>
#include <raccoon/core/topic_policy.hpp>

namespace raccoon::core {
namespace {

constexpr auto cap_window = std::chrono::minutes(1);

}  // namespace

std::string plain_name_problem(std::string_view name, std::size_t max_length,
                               std::string_view what) {
    if (name.empty()) return "is empty";
    if (name.size() > max_length) {
        return "is " + std::to_string(name.size()) + " characters, more than " + std::string(what) +
               " allows (" + std::to_string(max_length) + ")";
    }
    const bool plain = std::ranges::all_of(name, [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x80 && std::isalnum(u)) || c == '.' || c == '_' || c == '-';
    });
    if (!plain) {
        return "holds a character " + std::string(what) +
               " does not allow (only a-z, A-Z, 0-9, '.', '_' and '-')";
    }
    return {};
}

topic_policy::topic_policy(rules r) : rules_(std::move(r)), router_(rules_.pattern) {
    // Checked at start-up (EVENT_TYPE_ALLOWED_PATTERN's binder): valid here.
    if (!rules_.allowed_type_pattern.empty()) {
        allowed_.emplace(rules_.allowed_type_pattern, std::regex::ECMAScript);
    }
}

batch_result topic_policy::check(const batch& b, clock::time_point now) {
    // Most batches carry types seen before, mostly in runs of one type.
    std::vector<const std::string*> unseen;
    {
        std::shared_lock lock(mutex_);
        const std::string* last = nullptr;
        for (const auto& e : b.events) {
            if (last != nullptr && *last == e.type) continue;
            last = &e.type;
            if (!allowed_types_.contains(e.type)) unseen.push_back(&e.type);
        }
    }
    if (unseen.empty()) return {};

    std::lock_guard lock(mutex_);
    while (!new_topics_.empty() && now - new_topics_.front() >= cap_window) {
        new_topics_.pop_front();
    }
    std::vector<std::string> added_types;
    std::vector<std::string> added_topics;
    const std::size_t counted_before = new_topics_.size();
    for (const std::string* type : unseen) {
        if (allowed_types_.contains(*type) ||
            std::find(added_types.begin(), added_types.end(), *type) != added_types.end()) {
            continue;
        }
        if (auto refused = check_new(*type, now, added_types, added_topics); !refused.ok()) {
            // Nothing of a refused batch is kept: its other new types are
            // judged again with its next attempt.
            for (const auto& topic : added_topics) {
                if (!rules_.naming.collision_key) break;
                topics_by_key_.erase(rules_.naming.collision_key(topic));
            }
            if (!rules_.naming.collision_key) {
                for (const auto& topic : added_topics) topics_by_key_.erase(topic);
            }
            new_topics_.resize(counted_before);
            return refused;
        }
    }
    for (auto& type : added_types) allowed_types_.insert(std::move(type));
    return {};
}

batch_result topic_policy::check_new(const std::string& type, clock::time_point now,
                                     std::vector<std::string>& added_types,
                                     std::vector<std::string>& added_topics) {
    auto refuse = [&](std::string why) {
        return batch_result{make_error_code(errc::bad_request),
                            "event type \"" + type + "\" " + std::move(why)};
    };
    if (allowed_ && !std::regex_match(type, *allowed_)) {
        return refuse("does not match EVENT_TYPE_ALLOWED_PATTERN");
    }
    std::string topic = router_.format(type);
    if (rules_.naming.name_problem) {
        if (std::string problem = rules_.naming.name_problem(topic); !problem.empty()) {
            return refuse("makes topic \"" + topic + "\", which " + problem);
        }
    }
    std::string key = rules_.naming.collision_key ? rules_.naming.collision_key(topic) : topic;
    const bool is_new = !existing_.contains(topic);
    if (auto known = topics_by_key_.find(key); known != topics_by_key_.end()) {
        if (known->second != topic) {
            return refuse("makes topic \"" + topic + "\", which collides with topic \"" +
                          known->second + "\" (the publisher cannot hold both)");
        }
    } else {
        // A topic the destination is not known to hold is a new one; until
        // its list is known, none is counted (a restart must not trip the cap).
        if (is_new && existing_known_ && rules_.max_new_topics_per_minute > 0) {
            if (new_topics_.size() + 1 > rules_.max_new_topics_per_minute) {
                return {make_error_code(errc::too_many_new_topics),
                        "event type \"" + type + "\" would make a new topic past " +
                            std::to_string(rules_.max_new_topics_per_minute) +
                            " a minute (EVENT_DISTRIBUTION_MAX_NEW_TOPICS_PER_MINUTE)"};
            }
            new_topics_.push_back(now);
        }
        topics_by_key_.emplace(std::move(key), topic);
        added_topics.push_back(std::move(topic));
    }
    added_types.push_back(type);
    return {};
}

void topic_policy::set_existing(const std::vector<std::string>& topics) {
    string_set existing(topics.begin(), topics.end());
    std::lock_guard lock(mutex_);
    for (const auto& topic : existing) {
        std::string key = rules_.naming.collision_key ? rules_.naming.collision_key(topic) : topic;
        topics_by_key_.try_emplace(std::move(key), topic);
    }
    existing_ = std::move(existing);
    existing_known_ = true;
}

}  // namespace raccoon::core
