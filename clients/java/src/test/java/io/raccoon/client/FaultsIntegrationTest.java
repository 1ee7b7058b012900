package io.raccoon.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Faults against the real server and Kafka: the server restarted under a
 * WebSocket client, a front answering 503 then 200, the server's own 400 and
 * 413, a refused duplicate connection, a refused origin.
 */
@Tag("integration")
class FaultsIntegrationTest {
    static final RetryPolicy FAST = RetryPolicy.defaults().withBackoff(Duration.ofMillis(20), Duration.ofMillis(500));

    static RaccoonException failure(PendingSend p) throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class, () -> p.get(60, TimeUnit.SECONDS));
        return assertInstanceOf(RaccoonException.class, e.getCause());
    }

    @Test
    void serverRestartedUnderAWebSocketClient() throws Exception {
        try (TestServer srv = TestServer.start()) {
            AtomicInteger disconnects = new AtomicInteger();
            AtomicInteger reconnects = new AtomicInteger();
            try (RaccoonClient client = RaccoonClient.webSocket(srv.wsUrl()).connId("java-restart-1")
                    .serialization(Serialization.JSON).retryPolicy(FAST)
                    .onDisconnect(e -> disconnects.incrementAndGet()).onReconnect(reconnects::incrementAndGet).build()) {
                List<PendingSend> sends = Collections.synchronizedList(new ArrayList<>());
                List<byte[]> want = Collections.synchronizedList(new ArrayList<>());
                Thread sender = new Thread(() -> {
                    for (int b = 0; b < 60; b++) {
                        List<Event> events = TestEvents.make("javarestart", Serialization.JSON, "restart/" + b, 3);
                        sends.add(client.send(events));
                        want.addAll(TestEvents.serialized(events, Serialization.JSON));
                        try {
                            Thread.sleep(40);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                });
                sender.start();
                Thread.sleep(800);
                srv.restart();
                sender.join(30_000);
                for (PendingSend p : sends) {
                    Ack ack = p.get(60, TimeUnit.SECONDS);
                    assertTrue(ack.ok());
                    assertEquals(p.reqGuid(), ack.reqGuid());
                }
                assertEquals(60, sends.size());
                assertTrue(disconnects.get() >= 1, "disconnects " + disconnects);
                assertTrue(reconnects.get() >= 1, "reconnects " + reconnects);
                // At least once: a batch whose ack was lost with the connection may be there twice.
                TestServer.assertTopicHolds(srv.topic("javarestart"), want, false);
            }
        }
    }

    /** A front on 127.0.0.1 that answers the first `fail` requests with `status`, then proxies (optionally cut short). */
    static final class Front implements AutoCloseable {
        final HttpServer server;
        final List<String> seen = Collections.synchronizedList(new ArrayList<>());
        private static final Pattern GUID = Pattern.compile("\"req_guid\":\"([^\"]*)\"");

        Front(String target, int fail, int status, boolean corrupt) throws Exception {
            server = HttpServer.create(new InetSocketAddress(TestServer.HOST, 0), 0);
            HttpClient http = HttpClient.newHttpClient();
            server.createContext("/", ex -> {
                byte[] body = ex.getRequestBody().readAllBytes();
                Matcher m = GUID.matcher(new String(body, StandardCharsets.UTF_8));
                seen.add(m.find() ? m.group(1) : "?");
                if (seen.size() <= fail) {
                    ex.sendResponseHeaders(status, -1);
                    ex.close();
                    return;
                }
                // A JSON body cut short: the real server's own 400.
                if (corrupt) body = Arrays.copyOf(body, body.length - 5);
                try {
                    HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(target))
                            .header("Content-Type", ex.getRequestHeaders().getFirst("Content-Type"))
                            .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofByteArray());
                    r.headers().firstValue("Content-Type").ifPresent(v -> ex.getResponseHeaders().set("Content-Type", v));
                    ex.sendResponseHeaders(r.statusCode(), r.body().length == 0 ? -1 : r.body().length);
                    if (r.body().length > 0) ex.getResponseBody().write(r.body());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    ex.sendResponseHeaders(502, -1);
                }
                ex.close();
            });
            server.start();
        }

        String url() {
            return "http://" + TestServer.HOST + ":" + server.getAddress().getPort() + "/api/v1/events";
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    @Test
    void rest503Then200RetriesWithTheSameGuid() throws Exception {
        try (TestServer srv = TestServer.start(); Front front = new Front(srv.restUrl(), 1, 503, false);
                RaccoonClient client = RaccoonClient.rest(front.url()).wireType(WireType.JSON)
                        .serialization(Serialization.JSON).retryPolicy(FAST).build()) {
            List<Event> events = TestEvents.make("javaretry503", Serialization.JSON, "503", 3);
            PendingSend p = client.send(events);
            Ack ack = p.get(60, TimeUnit.SECONDS);
            assertTrue(ack.ok());
            assertEquals(2, ack.attempts());
            assertEquals(p.reqGuid(), ack.reqGuid());
            assertEquals(List.of(p.reqGuid(), p.reqGuid()), front.seen);
            TestServer.assertTopicHolds(srv.topic("javaretry503"), TestEvents.serialized(events, Serialization.JSON), true);
        }
    }

    @Test
    void theServers400IsNotRetriedAndNamesItsReason() throws Exception {
        try (TestServer srv = TestServer.start(); Front front = new Front(srv.restUrl(), 0, 0, true);
                RaccoonClient client = RaccoonClient.rest(front.url()).wireType(WireType.JSON)
                        .serialization(Serialization.JSON).retryPolicy(FAST).build()) {
            PendingSend p = client.send(TestEvents.make("javabad", Serialization.JSON, "400", 2));
            RaccoonException e = failure(p);
            assertEquals(RaccoonException.Kind.BAD_REQUEST, e.kind(), e.getMessage());
            assertEquals(400, e.httpStatus());
            assertEquals(Ack.CODE_BAD_REQUEST, e.code());
            assertEquals(1, e.attempts());
            assertFalse(e.reason().isEmpty(), "the server's reason");
            assertEquals(p.reqGuid(), e.reqGuid());
            assertEquals(List.of(p.reqGuid()), front.seen);
        }
    }

    @Test
    void aRequestOverTheServersLimitIsRefusedAtOnce() throws Exception {
        try (TestServer srv = TestServer.start("SERVER_MAX_REQUEST_BYTES=1024");
                RaccoonClient client = RaccoonClient.rest(srv.restUrl()).retryPolicy(FAST).build()) {
            RaccoonException e = failure(client.send(Event.of("javabig", new byte[4096])));
            assertEquals(RaccoonException.Kind.BAD_REQUEST, e.kind(), e.getMessage());
            assertEquals(413, e.httpStatus());
            assertEquals(1, e.attempts());
        }
    }

    @Test
    void aSecondWebSocketWithTheSameIdIsRefusedNotRetried() throws Exception {
        try (TestServer srv = TestServer.start();
                RaccoonClient first = RaccoonClient.webSocket(srv.wsUrl()).connId("java-dup").build()) {
            assertTrue(first.send(Event.of("javadup", new byte[] {1})).get(30, TimeUnit.SECONDS).ok());
            AtomicReference<RaccoonException> disconnected = new AtomicReference<>();
            // The upgrade succeeds; the refusal arrives as a message and a 1008 close.
            try (RaccoonClient second = RaccoonClient.webSocket(srv.wsUrl()).connId("java-dup").retryPolicy(FAST)
                    .onDisconnect(disconnected::set).build()) {
                RaccoonException e = failure(second.send(Event.of("javadup", new byte[] {2})));
                assertEquals(RaccoonException.Kind.REFUSED, e.kind(), e.getMessage());
                assertEquals(Ack.CODE_MAX_USER_LIMIT_REACHED, e.code());
                assertFalse(e.reason().isEmpty());
                assertEquals(RaccoonException.Kind.REFUSED, failure(second.send(Event.of("javadup", new byte[] {3}))).kind());
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (disconnected.get() == null && System.nanoTime() < deadline) Thread.sleep(20);
                assertEquals(RaccoonException.Kind.REFUSED, disconnected.get().kind());
            }
            assertTrue(first.send(Event.of("javadup", new byte[] {4})).get(30, TimeUnit.SECONDS).ok(), "the first goes on");
        }
    }

    @Test
    void anUpgradeFromAnotherOriginIsRefusedWithTheServers403() throws Exception {
        try (TestServer srv = TestServer.start()) {
            RaccoonException e = assertThrows(RaccoonException.class, () -> RaccoonClient.webSocket(srv.wsUrl())
                    .connId("java-origin").header("Origin", "http://elsewhere.example").build());
            assertEquals(RaccoonException.Kind.REFUSED, e.kind(), e.getMessage());
            assertEquals(403, e.httpStatus());
        }
    }

    @Test
    void theServersPingsAreAnsweredSoAnIdleConnectionLives() throws Exception {
        try (TestServer srv = TestServer.start("SERVER_WEBSOCKET_PING_INTERVAL_MS=200",
                "SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS=500")) {
            AtomicInteger disconnects = new AtomicInteger();
            try (RaccoonClient client = RaccoonClient.webSocket(srv.wsUrl()).connId("java-idle")
                    .onDisconnect(e -> disconnects.incrementAndGet()).build()) {
                assertTrue(client.send(Event.of("javaidle", new byte[] {1})).get(30, TimeUnit.SECONDS).ok());
                // Idle for many pong waits: only the JDK's automatic pongs keep it open.
                Thread.sleep(2500);
                Ack ack = client.send(Event.of("javaidle", new byte[] {2})).get(30, TimeUnit.SECONDS);
                assertTrue(ack.ok());
                assertEquals(1, ack.attempts());
                assertEquals(0, disconnects.get(), "the server closed an idle connection that answered its pings");
            }
        }
    }
}
