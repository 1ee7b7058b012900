// What one JavaScript (Node) client sends: batches for a while with a window
// of sends in flight, each counted when its ack came back. Prints one JSON
// object (make bench's client section, bench/client_libraries.py).
//
//   node bench/client_bench.js --protocol websocket --target ws://127.0.0.1:8080/api/v1/events
//   node bench/client_bench.js --protocol grpc --target 127.0.0.1:8081
import { parseArgs } from "node:util";
import { connectWebSocket, createGrpcClient, createRestClient } from "../src/node.js";

const { values: a } = parseArgs({
  options: {
    protocol: { type: "string", default: "websocket" },
    target: { type: "string" },
    duration: { type: "string", default: "10" },
    batch: { type: "string", default: "10" },
    "event-size": { type: "string", default: "100" },
    window: { type: "string", default: "64" },
    "conn-id": { type: "string", default: "client-bench-js" },
  },
});
if (!a.target) {
  console.error("client_bench: --target is required");
  process.exit(2);
}
const seconds = Number(a.duration);
const batch = Number(a.batch);
const window = Number(a.window);
const options = { connId: a["conn-id"], maxPending: window * 2 };
const client =
  a.protocol === "websocket"
    ? await connectWebSocket(a.target, options)
    : a.protocol === "rest"
      ? createRestClient(a.target, options)
      : createGrpcClient(a.target, options);

const data = new Uint8Array(Number(a["event-size"])).fill(120);
const events = Array.from({ length: batch }, () => ({ type: "clientbench", data }));
const latencies = [];
let acked = 0;
let failed = 0;
let retried = 0;
let firstError = "";
const started = performance.now();
const end = started + seconds * 1000;

async function lane() {
  while (performance.now() < end) {
    const t0 = performance.now();
    try {
      const ack = await client.send(events);
      latencies.push(performance.now() - t0);
      acked++;
      if (ack.attempts > 1) retried++;
    } catch (err) {
      failed++;
      if (!firstError) firstError = err.message;
    }
  }
}
await Promise.all(Array.from({ length: window }, lane));
const elapsed = (performance.now() - started) / 1000;
await client.close(10_000).catch(() => {});
latencies.sort((x, y) => x - y);
const pct = (p) =>
  latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : 0;
const result = {
  client: "JavaScript",
  protocol: a.protocol,
  seconds: elapsed,
  batch,
  event_size: data.length,
  window,
  acked_batches: acked,
  failed_batches: failed,
  retried_batches: retried,
  events_per_s: (acked * batch) / elapsed,
  ack_p50_ms: pct(0.5),
  ack_p99_ms: pct(0.99),
};
if (firstError) result.first_error = firstError;
console.log(JSON.stringify(result));
