#include "server_context.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <vector>

namespace raccoon::server::http {

core::ingestor::outcome server_context::submit(std::unique_ptr<core::batch>& b,
                                               core::batch_channel::room_callback on_room,
                                               const connection_executor& loop) {
    // Each loop is one thread, so this list is the loop's own: the ingestors
    // whose workers it wakes at the end of the current round (one, unless a
    // process runs several listeners).
    thread_local std::vector<core::ingestor*> wakes_posted;
    const auto outcome =
        ingestor.submit(b, std::move(on_room), core::batch_channel::wake::deferred);
    if (std::ranges::find(wakes_posted, &ingestor) == wakes_posted.end()) {
        wakes_posted.push_back(&ingestor);
        boost::asio::post(loop, [&workers = ingestor] {
            std::erase(wakes_posted, &workers);
            workers.wake_workers();
        });
    }
    return outcome;
}

}  // namespace raccoon::server::http
