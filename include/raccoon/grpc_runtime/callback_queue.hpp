#pragma once

namespace raccoon::grpc_runtime {

// Keeps gRPC's process-wide callback completion queue until the process
// ends. Debian's gRPC (1.51) serves every callback-API channel and server
// from one shared queue, counted by its users; when the last one goes, gRPC
// shuts the queue down while its own threads still poll it, which can
// free memory twice (gRPC's race, grpc/grpc#32584; ASan found it here when a
// Pub/Sub publisher or the gRPC server was destroyed). A channel held for
// the process's life keeps the count above zero. Call it before the first
// callback-API channel or server; calls after the first do nothing.
void pin_callback_queue();

}  // namespace raccoon::grpc_runtime
