#include <nlohmann/json.hpp>
#include <raccoon/codec/base64.hpp>
#include <raccoon/publisher/log/log_publisher.hpp>

namespace raccoon::publisher::log {

void log_publisher::publish(std::unique_ptr<core::batch> owned) {
    std::string lines;
    for (const auto& e : owned->events) {
        nlohmann::json line = {{"topic", *e.topic},
                               {"type", e.type},
                               {"conn_group", owned->identity.group},
                               {"event_bytes", codec::base64_encode(e.bytes)}};
        lines += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        lines += '\n';
    }
    bool written;
    {
        std::lock_guard lock(out_mutex_);
        written = std::fwrite(lines.data(), 1, lines.size(), out_) == lines.size() &&
                  std::fflush(out_) == 0;
    }
    const std::size_t count = owned->events.size();
    core::batch* b = core::batch::start_delivery(std::move(owned));
    for (std::size_t i = 0; i < count; ++i) {
        if (written) {
            b->report_delivery({}, {});
        } else {
            b->report_delivery(core::make_error_code(core::errc::publish_failed),
                               "cannot write to the log");
        }
    }
}

std::size_t log_publisher::flush(std::chrono::milliseconds) { return 0; }

kind publisher_kind() {
    return {"log", nullptr, {}, [](const config::settings&) -> builder {
                return [] { return std::make_unique<log_publisher>(); };
            }};
}

}  // namespace raccoon::publisher::log
