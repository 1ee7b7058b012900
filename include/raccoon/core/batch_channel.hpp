#pragma once

#include <memory>
#include <raccoon/core/batch.hpp>
#include <raccoon/core/bounded_channel.hpp>

namespace raccoon::core {

// The one channel between the transports and the workers.
using batch_channel = bounded_channel<std::unique_ptr<batch>>;

}  // namespace raccoon::core
