#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace raccoon::metrics {

// The cells below are what the data path touches: relaxed atomics, no lock.
// Readers (a scrape, a statsd flush) see each cell's latest value.

class counter {
 public:
    void add(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
    std::atomic<std::uint64_t> value_{0};
};

class gauge {
 public:
    void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
    void add(double delta) noexcept { value_.fetch_add(delta, std::memory_order_relaxed); }
    double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
    std::atomic<double> value_{0};
};

// Fixed buckets, Prometheus style. Each bucket also keeps the sum of what
// fell in it, so statsd can be sent one representative value per bucket.
class histogram {
 public:
    struct reading {
        std::vector<std::uint64_t> counts;  // per bucket, the last one +Inf; not cumulative
        std::vector<double> sums;           // per bucket
        std::uint64_t count = 0;
        double sum = 0;
    };

    // `upper_bounds` ascending; a last +Inf bucket is implied.
    explicit histogram(std::span<const double> upper_bounds);

    void observe(double value) noexcept;
    reading read() const;
    std::span<const double> upper_bounds() const noexcept { return upper_bounds_; }

 private:
    struct bucket {
        std::atomic<std::uint64_t> count{0};
        std::atomic<double> sum{0};
    };

    std::span<const double> upper_bounds_;
    std::unique_ptr<bucket[]> buckets_;
};

enum class metric_type { counter, gauge, histogram };

class registry;

// One named metric and its series, one per combination of label values.
class family_base {
 public:
    family_base(registry& owner, std::string name, std::string help,
                std::vector<std::string> label_names, metric_type type);
    virtual ~family_base() = default;

    family_base(const family_base&) = delete;
    family_base& operator=(const family_base&) = delete;

    const std::string& name() const noexcept { return name_; }
    const std::string& help() const noexcept { return help_; }
    const std::vector<std::string>& label_names() const noexcept { return label_names_; }
    metric_type type() const noexcept { return type_; }

 protected:
    // The series for `values`: from the calling thread's cache when this
    // thread used them before, else created under the registry's lock.
    void* find_or_create(std::span<const std::string_view> values);
    virtual void* create_cell() = 0;

    registry& owner_;

 private:
    friend class registry;

    std::string name_;
    std::string help_;
    std::vector<std::string> label_names_;
    metric_type type_;
    // Never reused, even across registries, so a thread's cache cannot
    // mistake a destroyed family's entry for a live one's.
    std::uint64_t id_;
    // Guarded by the registry's mutex; cells are never removed, so the
    // references handed out stay valid for the registry's lifetime.
    std::map<std::vector<std::string>, void*> series_;
};

template <class Cell>
class family final : public family_base {
 public:
    template <class... CellArgs>
    family(registry& owner, std::string name, std::string help,
           std::vector<std::string> label_names, metric_type type, CellArgs&&... cell_args)
        : family_base(owner, std::move(name), std::move(help), std::move(label_names), type),
          make_cell_([... args = std::forward<CellArgs>(cell_args)] {
              return std::make_unique<Cell>(args...);
          }) {}

    // Values in the order of the label names. Callers on a hot path may keep
    // the reference: it is valid as long as the registry.
    Cell& with(std::initializer_list<std::string_view> values) {
        return *static_cast<Cell*>(find_or_create({values.begin(), values.size()}));
    }
    Cell& with(std::span<const std::string_view> values) {
        return *static_cast<Cell*>(find_or_create(values));
    }

 private:
    void* create_cell() override {
        cells_.push_back(make_cell_());
        return cells_.back().get();
    }

    std::function<std::unique_ptr<Cell>()> make_cell_;
    std::vector<std::unique_ptr<Cell>> cells_;
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

// What an exporter reads: every family with the current value of each series.
struct series_reading {
    std::vector<std::pair<std::string, std::string>> labels;
    // Stable for the registry's lifetime: how an exporter tells series apart
    // from one export to the next.
    const void* identity = nullptr;
    double value = 0;            // counter or gauge
    histogram::reading buckets;  // histograms
};

struct family_reading {
    std::string name;
    std::string help;
    metric_type type = metric_type::counter;
    std::vector<double> upper_bounds;  // histograms only
    std::vector<series_reading> series;
};

// Label values are folded into this one once a label has reached its limit.
inline constexpr std::string_view folded_label_value = "other";

class registry {
 public:
    registry() = default;
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    counter_family& add_counter(std::string name, std::string help,
                                std::vector<std::string> label_names = {});
    gauge_family& add_gauge(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
    histogram_family& add_histogram(std::string name, std::string help,
                                    std::vector<std::string> label_names,
                                    std::vector<double> upper_bounds);

    // Bounds the distinct values a label takes across all families (label
    // values come from clients: event types, connection groups). Values first
    // seen after `limit` others are reported as "other".
    void limit_label_values(std::string label_name, std::size_t limit);

    // Runs `refresh` before every read(), as long as the returned handle
    // lives: for figures sampled rather than counted (process memory,
    // channel depth) from objects that may go before the registry.
    [[nodiscard]] std::shared_ptr<void> on_read(std::function<void()> refresh);

    std::vector<family_reading> read();

 private:
    friend class family_base;

    template <class Family, class... Args>
    Family& add(Args&&... args);

    std::mutex mutex_;
    std::vector<std::unique_ptr<family_base>> families_;
    std::vector<std::unique_ptr<std::vector<double>>> bounds_;
    std::map<std::string, std::size_t, std::less<>> label_limits_;
    std::map<std::string, std::set<std::string, std::less<>>, std::less<>> label_values_seen_;
    std::vector<std::weak_ptr<std::function<void()>>> refreshers_;
};

}  // namespace raccoon::metrics
