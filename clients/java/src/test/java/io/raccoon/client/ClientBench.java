package io.raccoon.client;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What one Java client sends: batches for a while with a window of sends in
 * flight, each counted when its ack came back. Prints one JSON object (make
 * bench's client section, bench/client_libraries.py).
 *
 * <pre>
 * java -cp ... io.raccoon.client.ClientBench --protocol websocket --target ws://127.0.0.1:8080/api/v1/events
 * </pre>
 */
public final class ClientBench {
    private ClientBench() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>(Map.of("--protocol", "websocket", "--duration", "10", "--batch", "10",
                "--event-size", "100", "--window", "64", "--conn-id", "client-bench-java"));
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i], args[i + 1]);
        String target = a.get("--target");
        if (target == null) {
            System.err.println("ClientBench: --target is required");
            System.exit(2);
        }
        String protocol = a.get("--protocol");
        double seconds = Double.parseDouble(a.get("--duration"));
        int batch = Integer.parseInt(a.get("--batch"));
        int window = Integer.parseInt(a.get("--window"));
        byte[] data = new byte[Integer.parseInt(a.get("--event-size"))];
        Arrays.fill(data, (byte) 'x');
        RaccoonClient.Builder b = switch (protocol) {
            case "websocket" -> RaccoonClient.webSocket(target);
            case "rest" -> RaccoonClient.rest(target);
            default -> RaccoonClient.grpc(target);
        };
        List<Event> events = Collections.nCopies(batch, Event.of("clientbench", data));
        List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger acked = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        AtomicInteger retried = new AtomicInteger();
        AtomicReference<String> firstError = new AtomicReference<>();
        try (RaccoonClient client = b.connId(a.get("--conn-id")).maxPending(window * 2).build()) {
            long started = System.nanoTime();
            long end = started + (long) (seconds * 1e9);
            List<CompletableFuture<Void>> lanes = new ArrayList<>();
            for (int i = 0; i < window; i++) {
                CompletableFuture<Void> lane = new CompletableFuture<>();
                lanes.add(lane);
                next(client, events, end, lane, latencies, acked, failed, retried, firstError);
            }
            CompletableFuture.allOf(lanes.toArray(CompletableFuture[]::new)).get((long) seconds + 120, TimeUnit.SECONDS);
            double elapsed = (System.nanoTime() - started) / 1e9;
            List<Double> sorted = new ArrayList<>(latencies);
            Collections.sort(sorted);
            StringBuilder out = new StringBuilder("{\"client\":\"Java\",\"protocol\":\"").append(protocol)
                    .append("\",\"seconds\":").append(elapsed).append(",\"batch\":").append(batch)
                    .append(",\"event_size\":").append(data.length).append(",\"window\":").append(window)
                    .append(",\"acked_batches\":").append(acked.get()).append(",\"failed_batches\":").append(failed.get())
                    .append(",\"retried_batches\":").append(retried.get()).append(",\"events_per_s\":")
                    .append(acked.get() * (double) batch / elapsed).append(",\"ack_p50_ms\":").append(pct(sorted, 0.5))
                    .append(",\"ack_p99_ms\":").append(pct(sorted, 0.99));
            if (firstError.get() != null) {
                out.append(",\"first_error\":");
                Codec.writeString(out, firstError.get());
            }
            System.out.println(out.append('}'));
        }
    }

    /** One lane: the next send when the previous one finished, until the end. */
    private static void next(RaccoonClient client, List<Event> events, long end, CompletableFuture<Void> lane,
            List<Double> latencies, AtomicInteger acked, AtomicInteger failed, AtomicInteger retried,
            AtomicReference<String> firstError) {
        if (System.nanoTime() >= end) {
            lane.complete(null);
            return;
        }
        long t0 = System.nanoTime();
        client.send(events).whenComplete((ack, err) -> {
            if (err == null) {
                latencies.add((System.nanoTime() - t0) / 1e6);
                acked.incrementAndGet();
                if (ack.attempts() > 1) retried.incrementAndGet();
            } else {
                failed.incrementAndGet();
                firstError.compareAndSet(null, err.getMessage());
            }
            // Off the client's threads: the next send starts from the common pool.
            CompletableFuture.runAsync(() -> next(client, events, end, lane, latencies, acked, failed, retried, firstError));
        });
    }

    private static double pct(List<Double> sorted, double p) {
        return sorted.isEmpty() ? 0 : sorted.get(Math.min(sorted.size() - 1, (int) (p * sorted.size())));
    }
}
