#include <bit>
#include <raccoon/core/batch.hpp>
#include <raccoon/core/batch_metrics.hpp>

namespace raccoon::core {
namespace {

// libstdc++ keeps a string of up to 15 bytes inside its object.
constexpr std::size_t inline_string_capacity = 15;

// Beyond the batch object: its completion's captures, its ack's deadline
// entry, and what a transport and the publisher keep per batch.
constexpr std::size_t batch_bookkeeping_bytes = 512;

// What the allocator hands out for `size` bytes: jemalloc's size classes,
// 16-byte steps up to 128, then four classes per doubling.
constexpr std::size_t allocation_size(std::size_t size) noexcept {
    if (size <= 128) return (size + 15) & ~std::size_t{15};
    const std::size_t step = std::bit_floor(size - 1) / 4;
    return (size + step - 1) & ~(step - 1);
}

std::size_t heap_bytes(const std::string& s) noexcept {
    return s.capacity() > inline_string_capacity ? allocation_size(s.capacity() + 1) : 0;
}

}  // namespace

std::size_t batch::memory_bytes() const noexcept {
    std::size_t total = sizeof(batch) + batch_bookkeeping_bytes + heap_bytes(req_guid) +
                        heap_bytes(identity.id) + heap_bytes(identity.group);
    if (events.capacity() > 0) total += allocation_size(events.capacity() * sizeof(event));
    for (const auto& e : events) total += heap_bytes(e.type) + heap_bytes(e.bytes);
    return total;
}

std::size_t batch::memory_bytes_after_decoding(std::size_t event_count,
                                               std::size_t string_bytes) const noexcept {
    // allocation_size(n) is at most n + n / 4 + 15; each event has two
    // strings, and the request one more.
    const std::size_t strings = 2 * event_count + 1;
    const std::size_t capacities = 2 * string_bytes + strings;
    const std::size_t string_heap = capacities + capacities / 4 + 15 * strings;
    const std::size_t vector_heap = allocation_size(2 * event_count * sizeof(event));
    return memory_bytes() + vector_heap + string_heap;
}

void batch::fail(std::unique_ptr<batch> b, const batch_result& result) {
    if (b->on_complete_) b->on_complete_(result);
}

batch* batch::start_delivery(std::unique_ptr<batch> b) {
    batch* owned = b.release();
    owned->pending_.store(owned->events.size(), std::memory_order_relaxed);
    for (auto& e : owned->events) e.owner = owned;
    if (owned->events.empty()) owned->complete();
    return owned;
}

void batch::report_delivery(std::error_code error, std::string_view detail) {
    if (error) {
        std::lock_guard lock(error_mutex_);
        if (!result_.error) {
            result_.error = error;
            result_.detail = detail;
        }
    }
    report_deliveries(1);
}

void batch::report_deliveries(std::size_t count) {
    if (pending_.fetch_sub(count, std::memory_order_acq_rel) == count) complete();
}

void batch::complete() {
    record_batch_published(*this);
    // The acquire of the last fetch_sub orders every other report's write before this read.
    if (on_complete_) on_complete_(result_);
    delete this;
}

}  // namespace raccoon::core
