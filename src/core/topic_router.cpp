#include <raccoon/core/topic_router.hpp>

namespace raccoon::core {

topic_router::topic_router(std::string pattern, std::size_t max_cached_types)
    : max_cached_types_(max_cached_types) {
    auto at = pattern.find("%s");
    has_placeholder_ = at != std::string::npos;
    if (has_placeholder_) {
        prefix_ = pattern.substr(0, at);
        suffix_ = pattern.substr(at + 2);
    } else {
        prefix_ = std::move(pattern);
    }
}

std::string topic_router::format(std::string_view type) const {
    if (!has_placeholder_) return prefix_;
    std::string topic;
    topic.reserve(prefix_.size() + type.size() + suffix_.size());
    topic.append(prefix_).append(type).append(suffix_);
    return topic;
}

const std::string& topic_router::topic_for(std::string_view type) {
    // A batch's events mostly share their type: a comparison, not a hash lookup.
    if (last_ != nullptr && last_->first == type) return last_->second;
    auto found = topics_.find(type);
    if (found == topics_.end()) found = topics_.emplace(std::string(type), format(type)).first;
    last_ = &*found;
    return found->second;
}

void topic_router::begin_batch() {
    if (topics_.size() < max_cached_types_) return;
    topics_.clear();
    last_ = nullptr;
}

}  // namespace raccoon::core
