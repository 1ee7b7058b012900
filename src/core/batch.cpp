#include <raccoon/core/batch.hpp>
#include <raccoon/core/batch_metrics.hpp>

namespace raccoon::core {

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
