#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace raccoon::core {

// Names an event's topic from its type through EVENT_DISTRIBUTION_PUBLISHER_PATTERN.
// Not thread-safe: each worker owns one, so the hot path takes no lock.
class topic_router {
 public:
    explicit topic_router(std::string pattern, std::size_t max_cached_types = 4096);
    // Not copied: the entry found last points into this router's own cache.
    topic_router(const topic_router&) = delete;
    topic_router& operator=(const topic_router&) = delete;

    // The topic of `type`. The reference stays valid until begin_batch().
    const std::string& topic_for(std::string_view type);

    // Called before a batch is routed; bounds the cache a flood of distinct
    // types could otherwise grow without end.
    void begin_batch();

    // The pattern with %s replaced by `type`, uncached.
    std::string format(std::string_view type) const;

    // How many types the cache holds now.
    std::size_t cached_types() const noexcept { return topics_.size(); }

 private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const noexcept {
            return std::hash<std::string_view>{}(text);
        }
    };

    std::string prefix_;
    std::string suffix_;
    bool has_placeholder_;
    std::size_t max_cached_types_;
    std::unordered_map<std::string, std::string, string_hash, std::equal_to<>> topics_;
    // The entry topic_for() answered last; the map's nodes never move.
    const std::pair<const std::string, std::string>* last_ = nullptr;
};

}  // namespace raccoon::core
