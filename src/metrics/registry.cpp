#include <algorithm>
#include <array>
#include <cstring>
#include <raccoon/metrics/registry.hpp>
#include <stdexcept>

namespace raccoon::metrics {
namespace {

std::atomic<std::uint64_t> next_family_id{1};

// Per thread: (family id, label values) -> cell. Keys are built in one reused
// buffer, so a hit allocates nothing.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const noexcept {
        return std::hash<std::string_view>{}(key);
    }
};

// Label values come from clients: a thread that has seen this many distinct
// series starts over rather than grow without bound.
constexpr std::size_t thread_cache_limit = 4096;

// The last series a family found on this thread, in a slot chosen by the
// family's id: the data path mostly asks a family for the series it asked for
// last (one connection group, one event type), and then pays a comparison
// instead of a hash lookup. Ids are small and consecutive, so families do not
// share a slot in practice; when they do, they only miss.
struct recent_series {
    std::string key;
    void* cell = nullptr;
};
constexpr std::size_t recent_slots = 64;

struct thread_cache {
    std::unordered_map<std::string, void*, string_hash, std::equal_to<>> cells;
    std::string key;
    std::array<recent_series, recent_slots> recent;
};

thread_local thread_cache cache;

void append_key(std::string& key, std::uint64_t family_id,
                std::span<const std::string_view> values) {
    key.clear();
    key.append(reinterpret_cast<const char*>(&family_id), sizeof family_id);
    for (std::string_view v : values) {
        const auto length = static_cast<std::uint32_t>(v.size());
        key.append(reinterpret_cast<const char*>(&length), sizeof length);
        key.append(v);
    }
}

}  // namespace

histogram::histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds), buckets_(std::make_unique<bucket[]>(upper_bounds.size() + 1)) {}

void histogram::observe(double value) noexcept {
    const auto index = static_cast<std::size_t>(
        std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
        upper_bounds_.begin());
    buckets_[index].count.fetch_add(1, std::memory_order_relaxed);
    buckets_[index].sum.fetch_add(value, std::memory_order_relaxed);
}

histogram::reading histogram::read() const {
    reading r;
    const std::size_t n = upper_bounds_.size() + 1;
    r.counts.resize(n);
    r.sums.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        r.counts[i] = buckets_[i].count.load(std::memory_order_relaxed);
        r.sums[i] = buckets_[i].sum.load(std::memory_order_relaxed);
        r.count += r.counts[i];
        r.sum += r.sums[i];
    }
    return r;
}

family_base::family_base(registry& owner, std::string name, std::string help,
                         std::vector<std::string> label_names, metric_type type)
    : owner_(owner),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      type_(type),
      id_(next_family_id.fetch_add(1, std::memory_order_relaxed)) {}

void* family_base::find_or_create(std::span<const std::string_view> values) {
    if (values.size() != label_names_.size()) {
        throw std::invalid_argument("metric " + name_ + ": " + std::to_string(values.size()) +
                                    " label values for " + std::to_string(label_names_.size()) +
                                    " labels");
    }
    append_key(cache.key, id_, values);
    recent_series& recent = cache.recent[id_ % recent_slots];
    if (recent.cell != nullptr && recent.key == cache.key) return recent.cell;
    if (auto hit = cache.cells.find(std::string_view(cache.key)); hit != cache.cells.end()) {
        recent.key = cache.key;
        recent.cell = hit->second;
        return hit->second;
    }

    void* cell;
    {
        std::lock_guard lock(owner_.mutex_);
        std::vector<std::string> kept;
        kept.reserve(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
            kept.emplace_back(values[i]);
            auto limit = owner_.label_limits_.find(label_names_[i]);
            if (limit == owner_.label_limits_.end()) continue;
            auto& seen = owner_.label_values_seen_[label_names_[i]];
            if (seen.contains(values[i])) continue;
            if (seen.size() < limit->second) {
                seen.emplace(values[i]);
            } else {
                kept.back() = folded_label_value;
            }
        }
        auto [it, inserted] = series_.try_emplace(std::move(kept), nullptr);
        if (inserted) it->second = create_cell();
        cell = it->second;
    }
    if (cache.cells.size() >= thread_cache_limit) cache.cells.clear();
    cache.cells.emplace(cache.key, cell);
    recent.key = cache.key;
    recent.cell = cell;
    return cell;
}

template <class Family, class... Args>
Family& registry::add(Args&&... args) {
    auto created = std::make_unique<Family>(*this, std::forward<Args>(args)...);
    Family& result = *created;
    std::lock_guard lock(mutex_);
    for (const auto& existing : families_) {
        if (existing->name() == result.name()) {
            throw std::invalid_argument("metric " + result.name() + " registered twice");
        }
    }
    families_.push_back(std::move(created));
    return result;
}

counter_family& registry::add_counter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
    auto& f = add<counter_family>(std::move(name), std::move(help), std::move(label_names),
                                  metric_type::counter);
    // A metric without labels has its one series from the start, so it reads 0
    // rather than being absent.
    if (f.label_names().empty()) f.with({});
    return f;
}

gauge_family& registry::add_gauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
    auto& f = add<gauge_family>(std::move(name), std::move(help), std::move(label_names),
                                metric_type::gauge);
    if (f.label_names().empty()) f.with({});
    return f;
}

histogram_family& registry::add_histogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> upper_bounds) {
    if (!std::is_sorted(upper_bounds.begin(), upper_bounds.end()) ||
        std::adjacent_find(upper_bounds.begin(), upper_bounds.end()) != upper_bounds.end()) {
        throw std::invalid_argument("metric " + name + ": bucket bounds must ascend");
    }
    std::span<const double> bounds;
    {
        std::lock_guard lock(mutex_);
        bounds_.push_back(std::make_unique<std::vector<double>>(std::move(upper_bounds)));
        bounds = *bounds_.back();
    }
    auto& f = add<histogram_family>(std::move(name), std::move(help), std::move(label_names),
                                    metric_type::histogram, bounds);
    if (f.label_names().empty()) f.with({});
    return f;
}

void registry::limit_label_values(std::string label_name, std::size_t limit) {
    std::lock_guard lock(mutex_);
    label_limits_[std::move(label_name)] = limit;
}

std::shared_ptr<void> registry::on_read(std::function<void()> refresh) {
    auto handle = std::make_shared<std::function<void()>>(std::move(refresh));
    std::lock_guard lock(mutex_);
    std::erase_if(refreshers_, [](const auto& r) { return r.expired(); });
    refreshers_.push_back(handle);
    return handle;
}

std::vector<family_reading> registry::read() {
    std::vector<std::shared_ptr<std::function<void()>>> refreshers;
    {
        std::lock_guard lock(mutex_);
        for (const auto& r : refreshers_) {
            if (auto live = r.lock()) refreshers.push_back(std::move(live));
        }
    }
    // Outside the lock: a refresher sets gauges, which may create series.
    for (auto& refresh : refreshers) (*refresh)();

    std::lock_guard lock(mutex_);
    std::vector<family_reading> readings;
    readings.reserve(families_.size());
    for (const auto& f : families_) {
        family_reading& r = readings.emplace_back();
        r.name = f->name();
        r.help = f->help();
        r.type = f->type();
        for (const auto& [values, cell] : f->series_) {
            series_reading& s = r.series.emplace_back();
            s.identity = cell;
            for (std::size_t i = 0; i < values.size(); ++i) {
                s.labels.emplace_back(f->label_names()[i], values[i]);
            }
            switch (f->type()) {
                case metric_type::counter:
                    s.value = static_cast<double>(static_cast<const counter*>(cell)->value());
                    break;
                case metric_type::gauge:
                    s.value = static_cast<const gauge*>(cell)->value();
                    break;
                case metric_type::histogram: {
                    const auto* h = static_cast<const histogram*>(cell);
                    s.buckets = h->read();
                    r.upper_bounds.assign(h->upper_bounds().begin(), h->upper_bounds().end());
                    break;
                }
            }
        }
    }
    return readings;
}

}  // namespace raccoon::metrics
