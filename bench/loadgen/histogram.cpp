#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace raccoon::loadgen {

namespace {

constexpr unsigned sub_bucket_bits = 7;
constexpr std::uint64_t sub_buckets = 1u << sub_bucket_bits;  // 128

}  // namespace

std::size_t histogram::bucket_of(std::uint64_t ns) {
    ns = std::min(ns, max_tracked_ns);
    if (ns < sub_buckets) return static_cast<std::size_t>(ns);
    // ns in [2^e, 2^(e+1)) with e >= 7: keep its top 8 bits.
    const unsigned shift = static_cast<unsigned>(std::bit_width(ns)) - 1 - sub_bucket_bits;
    const std::uint64_t top = ns >> shift;  // in [128, 256)
    return static_cast<std::size_t>(sub_buckets + shift * sub_buckets + (top - sub_buckets));
}

std::uint64_t histogram::highest_in(std::size_t bucket) {
    if (bucket < sub_buckets) return bucket;
    const std::uint64_t shift = (bucket - sub_buckets) / sub_buckets;
    const std::uint64_t top = sub_buckets + (bucket - sub_buckets) % sub_buckets;
    return ((top + 1) << shift) - 1;
}

histogram::histogram() : buckets_(bucket_of(max_tracked_ns) + 1, 0) {}

void histogram::record(std::uint64_t ns) {
    ++buckets_[bucket_of(ns)];
    ++count_;
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
    sum_ += ns;
}

void histogram::merge(const histogram& other) {
    for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
}

std::uint64_t histogram::value_at(double q) const {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        seen += buckets_[i];
        if (seen >= rank) return std::min(highest_in(i), max_);
    }
    return max_;
}

}  // namespace raccoon::loadgen
