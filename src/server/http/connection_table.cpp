#include "connection_table.hpp"

namespace raccoon::server::http {

std::string connection_table::key_of(const core::connection_identity& identity) {
    // The group cannot hold a NUL from a header, so id NUL group is unambiguous.
    std::string key;
    key.reserve(identity.id.size() + 1 + identity.group.size());
    key.append(identity.group).push_back('\0');
    key.append(identity.id);
    return key;
}

connection_table::admission connection_table::admit(const core::connection_identity& identity) {
    std::string key = key_of(identity);
    std::lock_guard lock(mutex_);
    if (!identity.id.empty() && live_.contains(key)) return admission::duplicate;
    if (live_.size() + anonymous_ >= max_connections_) return admission::full;
    if (identity.id.empty()) {
        ++anonymous_;
    } else {
        live_.insert(std::move(key));
    }
    return admission::admitted;
}

void connection_table::release(const core::connection_identity& identity) {
    std::string key = key_of(identity);
    std::lock_guard lock(mutex_);
    if (identity.id.empty()) {
        --anonymous_;
    } else {
        live_.erase(key);
    }
}

std::size_t connection_table::size() const {
    std::lock_guard lock(mutex_);
    return live_.size() + anonymous_;
}

}  // namespace raccoon::server::http
