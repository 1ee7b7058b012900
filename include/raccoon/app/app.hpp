#pragma once

#include <raccoon/config/settings.hpp>

namespace raccoon::app {

// Wires the publisher, the channel, the workers and the transports from
// `settings`, serves until SIGTERM or SIGINT, then drains: stop accepting,
// let the workers empty the channel, flush the publisher, send the pending
// acks, close. Returns the process exit code. Throws on a start-up failure.
int run(const config::settings& settings);

}  // namespace raccoon::app
