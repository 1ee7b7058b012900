#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace raccoon::loadgen {

// A log-linear latency histogram in nanoseconds, HdrHistogram's layout made
// small: below 128 ns one bucket per value, above it each power of two is
// split into 128 equal buckets, so a bucket is at most 1/128 (0.78%) of its
// value wide. Values above 60 s count in the last bucket; min, max and the
// sum are kept exactly. 3,840 buckets, 30 KiB.
class histogram {
 public:
    static constexpr std::uint64_t max_tracked_ns = 60'000'000'000;

    histogram();

    void record(std::uint64_t ns);
    void merge(const histogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
    // The value at quantile q (0..1]: the highest value of the bucket holding
    // it, never above max().
    std::uint64_t value_at(double q) const;

    static std::size_t bucket_of(std::uint64_t ns);
    static std::uint64_t highest_in(std::size_t bucket);

 private:
    std::vector<std::uint64_t> buckets_;
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    // Unsigned 64-bit nanoseconds: overflows only after ~584 years of latency.
    std::uint64_t sum_ = 0;
};

}  // namespace raccoon::loadgen
