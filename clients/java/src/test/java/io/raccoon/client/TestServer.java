package io.raccoon.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The real raccoon binary on free 127.0.0.1 ports, with a unique topic
 * pattern and EVENT_ACK=1, and the real Kafka broker read by kcat.
 * Environment (clients/CMakeLists.txt): RACCOON_BIN, RACCOON_KAFKA_DIR.
 * Every wait is bounded.
 */
final class TestServer implements AutoCloseable {
    static final String HOST = "127.0.0.1";
    private static final List<String> SETTING_PREFIXES = List.of("SERVER_", "WORKER_", "EVENT_", "PUBLISHER_", "METRIC_", "LOG_");

    final int port;
    final int grpcPort;
    final String pattern;
    private final Map<String, String> env = new LinkedHashMap<>();
    private final Path dir;
    private Process proc;
    private int runs;

    static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) fail(name + " is not set: run the integration tests through ctest (clients/CMakeLists.txt)");
        return v;
    }

    static String bootstrap() {
        try {
            return Files.readString(Path.of(env("RACCOON_KAFKA_DIR"), "bootstrap")).trim();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(HOST, 0));
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static TestServer start(String... extra) throws Exception {
        return new TestServer(extra);
    }

    private TestServer(String... extra) throws Exception {
        port = freePort();
        int g;
        do g = freePort();
        while (g == port);
        grpcPort = g;
        pattern = "javaclient-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + "-%s";
        dir = Files.createTempDirectory("raccoon-java-");
        System.getenv().forEach((k, v) -> {
            if (SETTING_PREFIXES.stream().noneMatch(k::startsWith)) env.put(k, v);
        });
        env.put("SERVER_WEBSOCKET_PORT", String.valueOf(port));
        env.put("SERVER_GRPC_PORT", String.valueOf(grpcPort));
        env.put("SERVER_BIND_ADDRESS", HOST);
        env.put("SERVER_IO_THREADS", "2");
        env.put("PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS", bootstrap());
        env.put("EVENT_DISTRIBUTION_PUBLISHER_PATTERN", pattern);
        env.put("EVENT_ACK", "1");
        env.put("WORKER_BUFFER_FLUSH_TIMEOUT_MS", "3000");
        env.put("PUBLISHER_KAFKA_FLUSH_INTERVAL_MS", "2000");
        env.put("LOG_LEVEL", "info");
        for (String kv : extra) {
            int i = kv.indexOf('=');
            env.put(kv.substring(0, i), kv.substring(i + 1));
        }
        run();
    }

    private void run() throws Exception {
        runs++;
        ProcessBuilder pb = new ProcessBuilder(env("RACCOON_BIN"), "server");
        pb.environment().clear();
        pb.environment().putAll(env);
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.redirectError(dir.resolve("stderr-" + runs).toFile());
        proc = pb.start();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            try {
                HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create(httpUrl() + "/ping"))
                        .timeout(Duration.ofSeconds(1)).build(), HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) return;
            } catch (IOException e) {
                // not up yet
            }
            Thread.sleep(50);
        }
        // Never left running: the caller has no server to stop.
        proc.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        proc = null;
        fail("raccoon did not answer /ping within 20 s:\n" + stderr());
    }

    /** SIGTERM and a bounded wait; the exit code, -1 if it had to be killed. */
    int stop() throws InterruptedException {
        if (proc == null) return 0;
        Process p = proc;
        proc = null;
        p.destroy();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            return -1;
        }
        return p.exitValue();
    }

    void restart() throws Exception {
        int code = stop();
        assertEquals(0, code, "raccoon exited with " + code + " on restart:\n" + stderr());
        run();
    }

    String stderr() {
        StringBuilder b = new StringBuilder();
        for (int i = 1; i <= runs; i++) {
            try {
                b.append(Files.readString(dir.resolve("stderr-" + i)));
            } catch (IOException e) {
                // none
            }
        }
        String s = b.toString();
        return s.length() > 8000 ? s.substring(s.length() - 8000) : s;
    }

    @Override
    public void close() throws Exception {
        int code = stop();
        assertEquals(0, code, "raccoon exited with " + code + ":\n" + stderr());
    }

    String httpUrl() {
        return "http://" + HOST + ":" + port;
    }

    String restUrl() {
        return httpUrl() + "/api/v1/events";
    }

    String wsUrl() {
        return "ws://" + HOST + ":" + port + "/api/v1/events";
    }

    String grpcAddress() {
        return HOST + ":" + grpcPort;
    }

    String topic(String eventType) {
        return pattern.replace("%s", eventType);
    }

    /** Reads a topic from the beginning until it holds at least want messages or timeout passes. */
    static List<byte[]> readTopic(String topic, int want, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<byte[]> got = new ArrayList<>();
        String last = "";
        for (;;) {
            Process p = new ProcessBuilder("kcat", "-C", "-b", bootstrap(), "-t", topic, "-o", "beginning", "-e", "-q", "-f",
                    "%S\n%s\n").redirectError(ProcessBuilder.Redirect.PIPE).start();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Thread reader = new Thread(() -> {
                try (InputStream in = p.getInputStream()) {
                    in.transferTo(out);
                } catch (IOException e) {
                    // the process ended
                }
            });
            reader.start();
            boolean ended = p.waitFor(15, TimeUnit.SECONDS);
            if (!ended) p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            reader.join(5000);
            if (ended && p.exitValue() == 0) {
                got = parseSized(out.toByteArray());
                if (got.size() >= want) return got;
            } else {
                last = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            }
            if (System.nanoTime() > deadline) {
                fail("topic " + topic + ": " + got.size() + " of " + want + " messages within " + timeout + " (" + last + ")");
            }
            Thread.sleep(300);
        }
    }

    /** kcat's "%S\n%s\n": a decimal size, a newline, that many bytes and a newline, per message. */
    static List<byte[]> parseSized(byte[] out) {
        List<byte[]> msgs = new ArrayList<>();
        int i = 0;
        while (i < out.length) {
            int nl = i;
            while (nl < out.length && out[nl] != '\n') nl++;
            int n = Integer.parseInt(new String(out, i, nl - i, StandardCharsets.US_ASCII).trim());
            byte[] m = new byte[n];
            System.arraycopy(out, nl + 1, m, 0, n);
            msgs.add(m);
            i = nl + 1 + n;
            if (i < out.length && out[i] == '\n') i++;
        }
        return msgs;
    }

    /** Fails unless the topic holds every wanted message byte for byte; exact: and nothing else. */
    static void assertTopicHolds(String topic, List<byte[]> want, boolean exact) throws Exception {
        List<byte[]> msgs = readTopic(topic, want.size(), Duration.ofSeconds(30));
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (byte[] m : msgs) counts.merge(HexFormat.of().formatHex(m), 1, Integer::sum);
        for (byte[] w : want) {
            String k = HexFormat.of().formatHex(w);
            Integer n = counts.get(k);
            if (n == null || n == 0) fail("topic " + topic + " lacks an event (" + k + "); it holds " + msgs.size() + " messages");
            counts.put(k, n - 1);
        }
        if (exact) {
            int extra = counts.values().stream().mapToInt(Integer::intValue).sum();
            assertEquals(0, extra, "topic " + topic + " holds messages more than were sent");
        }
    }
}
