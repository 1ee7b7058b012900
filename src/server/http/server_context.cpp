#include "server_context.hpp"

#include <boost/asio/post.hpp>

namespace raccoon::server::http {

core::ingestor::outcome server_context::submit(std::unique_ptr<core::batch>& b,
                                               core::batch_channel::room_callback on_room,
                                               const connection_executor& loop) {
    // Each loop is one thread, so this flag is the loop's own.
    thread_local bool wake_posted = false;
    const auto outcome =
        ingestor.submit(b, std::move(on_room), core::batch_channel::wake::deferred);
    if (!wake_posted) {
        wake_posted = true;
        boost::asio::post(loop, [&workers = ingestor] {
            wake_posted = false;
            workers.wake_workers();
        });
    }
    return outcome;
}

}  // namespace raccoon::server::http
