package io.raccoon.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.raystack.proton.raccoon.v1beta1.Code;
import org.raystack.proton.raccoon.v1beta1.SendEventRequest;
import org.raystack.proton.raccoon.v1beta1.SendEventResponse;
import org.raystack.proton.raccoon.v1beta1.Status;

/**
 * The client against fake servers: acks matched by guid out of order, ack
 * errors retried or not, reconnects that re-send with the same guid,
 * refusals, REST retries, the budget, timeouts, flush and close.
 */
@Tag("unit")
class ClientTest {
    static final RetryPolicy FAST = RetryPolicy.defaults().withBackoff(Duration.ofMillis(5), Duration.ofMillis(20));

    static Event ev() {
        return Event.of("t", new byte[] {1});
    }

    static byte[] response(String guid, Status status, Code code, String reason) {
        SendEventResponse.Builder b = SendEventResponse.newBuilder().setStatus(status).setCode(code).setSentTime(1).setReason(reason);
        if (guid != null) b.putData("req_guid", guid);
        return b.build().toByteArray();
    }

    static byte[] ok(String guid) {
        return response(guid, Status.STATUS_SUCCESS, Code.CODE_OK, "");
    }

    static RaccoonException failure(PendingSend p) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> p.get(20, TimeUnit.SECONDS));
        return assertInstanceOf(RaccoonException.class, e.getCause());
    }

    @Test
    void webSocketAcksMatchedByGuidInAnyOrder() throws Exception {
        List<String> held = Collections.synchronizedList(new ArrayList<>());
        try (FakeWebSocketServer f = new FakeWebSocketServer(c -> {}, (c, data, text) -> {
            held.add(SendEventRequest.parseFrom(data).getReqGuid());
            if (held.size() == 3) {
                for (int i = 2; i >= 0; i--) c.send(ok(held.get(i)), false);
            }
        })) {
            List<String> stream = Collections.synchronizedList(new ArrayList<>());
            try (RaccoonClient c = RaccoonClient.webSocket(f.url()).connId("u1").connGroup("g1").header("X-Extra", "e")
                    .onAck((g, a, e) -> stream.add(g)).build()) {
                PendingSend a = c.send(ev());
                PendingSend b = c.send(ev());
                PendingSend mine = c.send(List.of(ev()), "mine");
                for (PendingSend p : List.of(a, b, mine)) assertEquals(p.reqGuid(), p.get(10, TimeUnit.SECONDS).reqGuid());
                assertEquals("mine", mine.reqGuid());
                assertTrue(a.reqGuid().matches("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
                assertEquals(List.of(held.get(2), held.get(1), held.get(0)), stream);
                Map<String, String> h = f.connections.get(0).headers;
                assertEquals(List.of("u1", "g1", "e"), List.of(h.get("x-user-id"), h.get("x-user-group"), h.get("x-extra")));
            }
        }
    }

    @Test
    void webSocketJsonWireUsesTextFrames() throws Exception {
        Pattern guid = Pattern.compile("\"req_guid\":\"([^\"]*)\"");
        try (FakeWebSocketServer f = new FakeWebSocketServer(c -> {}, (c, data, text) -> {
            Matcher m = guid.matcher(new String(data, StandardCharsets.UTF_8));
            if (text && m.find()) {
                c.send(("{\"status\":1,\"code\":1,\"sent_time\":1,\"data\":{\"req_guid\":\"" + m.group(1) + "\"}}")
                        .getBytes(StandardCharsets.UTF_8), true);
            }
        }); RaccoonClient c = RaccoonClient.webSocket(f.url()).connId("u").wireType(WireType.JSON)
                .serialization(Serialization.JSON).build()) {
            assertTrue(c.send(Event.of("t", Map.of("a", 1))).get(10, TimeUnit.SECONDS).ok());
        }
    }

    @Test
    void manyThreadsSendOnOneWebSocket() throws Exception {
        List<String> received = Collections.synchronizedList(new ArrayList<>());
        try (FakeWebSocketServer f = new FakeWebSocketServer(c -> {}, (c, data, text) -> {
            String g = SendEventRequest.parseFrom(data).getReqGuid();
            received.add(g);
            c.send(ok(g), false);
        }); RaccoonClient c = RaccoonClient.webSocket(f.url()).connId("u").build()) {
            List<PendingSend> sends = Collections.synchronizedList(new ArrayList<>());
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                Thread th = new Thread(() -> {
                    for (int i = 0; i < 50; i++) sends.add(c.send(ev()));
                });
                threads.add(th);
                th.start();
            }
            for (Thread th : threads) th.join(20_000);
            assertEquals(400, sends.size());
            for (PendingSend p : sends) {
                Ack ack = p.get(20, TimeUnit.SECONDS);
                assertEquals(p.reqGuid(), ack.reqGuid());
                assertEquals(1, ack.attempts());
            }
            // Every request went out once, whole: the JDK's one-write-at-a-time rule kept.
            assertEquals(400, received.size());
            assertEquals(400, new java.util.HashSet<>(received).size());
            assertEquals(0, c.pendingCount());
        }
    }

    @Test
    void internalErrorAcksAreRetriedBadRequestAcksAreNot() throws Exception {
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        try (FakeWebSocketServer f = new FakeWebSocketServer(c -> {}, (c, data, text) -> {
            String g = SendEventRequest.parseFrom(data).getReqGuid();
            seen.add(g);
            if (g.equals("bad")) c.send(response(g, Status.STATUS_ERROR, Code.CODE_BAD_REQUEST, "events[0] is null"), false);
            else if (Collections.frequency(seen, g) < 3) c.send(response(g, Status.STATUS_ERROR, Code.CODE_INTERNAL_ERROR, "broker"), false);
            else c.send(ok(g), false);
        }); RaccoonClient c = RaccoonClient.webSocket(f.url()).connId("u").retryPolicy(FAST).build()) {
            assertEquals(3, c.send(List.of(ev()), "good").get(10, TimeUnit.SECONDS).attempts());
            RaccoonException e = failure(c.send(List.of(ev()), "bad"));
            assertEquals(RaccoonException.Kind.BAD_REQUEST, e.kind());
            assertEquals(1, e.attempts());
            assertEquals("events[0] is null", e.reason());
            assertEquals(List.of("good", "good", "good", "bad"), seen);
        }
    }

    @Test
    void afterADropItReconnectsAndResendsInOrderWithTheSameGuids() throws Exception {
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger connections = new AtomicInteger();
        try (FakeWebSocketServer f = new FakeWebSocketServer(c -> connections.incrementAndGet(), (c, data, text) -> {
            String g = SendEventRequest.parseFrom(data).getReqGuid();
            seen.add(connections.get() + ":" + g);
            if (connections.get() == 1) {
                if (seen.size() == 2) c.kill();
                return;
            }
            c.send(ok(g), false);
        })) {
            List<String> events = Collections.synchronizedList(new ArrayList<>());
            try (RaccoonClient c = RaccoonClient.webSocket(f.url()).connId("u").retryPolicy(FAST)
                    .onDisconnect(e -> events.add("disconnect")).onReconnect(() -> events.add("reconnect")).build()) {
                PendingSend a = c.send(List.of(ev()), "a");
                PendingSend b = c.send(List.of(ev()), "b");
                assertEquals(2, a.get(10, TimeUnit.SECONDS).attempts());
                assertEquals(2, b.get(10, TimeUnit.SECONDS).attempts());
                assertEquals(List.of("1:a", "1:b", "2:a", "2:b"), seen);
                assertEquals(List.of("disconnect", "reconnect"), events);
            }
        }
    }

    @Test
    void noAckWithinTheAttemptTimeoutIsARetryThenATransportError() throws Exception {
        AtomicInteger n = new AtomicInteger();
        try (FakeWebSocketServer f = new FakeWebSocketServer(c -> {}, (c, data, text) -> n.incrementAndGet());
                RaccoonClient c = RaccoonClient.webSocket(f.url()).connId("u").attemptTimeout(Duration.ofMillis(50))
                        .retryPolicy(FAST.withMaxAttempts(3)).build()) {
            RaccoonException e = failure(c.send(ev()));
            assertEquals(RaccoonException.Kind.TRANSPORT, e.kind());
            assertEquals(3, e.attempts());
            assertEquals(3, n.get());
        }
    }

    @Test
    void theRefusalFailsEverySendWithoutReconnecting() throws Exception {
        AtomicInteger connections = new AtomicInteger();
        try (FakeWebSocketServer f = new FakeWebSocketServer(c -> {
            connections.incrementAndGet();
            c.send(response(null, Status.STATUS_ERROR, Code.CODE_MAX_USER_LIMIT_REACHED, "already connected"), false);
            c.close(1008);
        }, (c, data, text) -> {}); RaccoonClient c = RaccoonClient.webSocket(f.url()).connId("u").retryPolicy(FAST).build()) {
            RaccoonException e = failure(c.send(ev()));
            assertEquals(RaccoonException.Kind.REFUSED, e.kind());
            assertEquals(Ack.CODE_MAX_USER_LIMIT_REACHED, e.code());
            assertEquals("already connected", e.reason());
            Thread.sleep(100);
            assertEquals(1, connections.get());
            assertEquals(RaccoonException.Kind.REFUSED, failure(c.send(ev())).kind());
        }
    }

    @Test
    void anHttpAnswerToTheUpgradeIsARefusal() throws Exception {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        s.createContext("/", ex -> reply(ex, 403, "origin not allowed\n".getBytes(StandardCharsets.UTF_8)));
        s.start();
        try {
            RaccoonException e = assertThrows(RaccoonException.class,
                    () -> RaccoonClient.webSocket("ws://127.0.0.1:" + s.getAddress().getPort() + "/").connId("u").build());
            assertEquals(RaccoonException.Kind.REFUSED, e.kind());
            assertEquals(403, e.httpStatus());
        } finally {
            s.stop(0);
        }
        RaccoonException dead = assertThrows(RaccoonException.class, () -> RaccoonClient.webSocket("ws://127.0.0.1:1/").build());
        assertEquals(RaccoonException.Kind.TRANSPORT, dead.kind());
        assertEquals(RaccoonException.Kind.ENCODING,
                assertThrows(RaccoonException.class, () -> RaccoonClient.webSocket("http://x/").build()).kind());
    }

    @Test
    void aHeaderTheJdkForbidsIsAnEncodingError() {
        RaccoonException e = assertThrows(RaccoonException.class,
                () -> RaccoonClient.webSocket("ws://127.0.0.1:1/").header("Connection", "close").build());
        assertEquals(RaccoonException.Kind.ENCODING, e.kind());
    }

    static void reply(HttpExchange ex, int status, byte[] body) throws IOException {
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) ex.getResponseBody().write(body);
        ex.close();
    }

    /** A fake REST server; handler(exchange, request, n) answers. */
    interface RestHandler {
        void handle(HttpExchange ex, SendEventRequest req, int n) throws IOException;
    }

    static final class FakeRest implements AutoCloseable {
        final HttpServer server;
        final List<byte[]> bodies = Collections.synchronizedList(new ArrayList<>());
        final List<String> contentTypes = Collections.synchronizedList(new ArrayList<>());
        final List<String> ids = Collections.synchronizedList(new ArrayList<>());

        FakeRest(RestHandler h) throws IOException {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
            server.createContext("/", ex -> {
                byte[] body = ex.getRequestBody().readAllBytes();
                bodies.add(body);
                contentTypes.add(ex.getRequestHeaders().getFirst("Content-Type"));
                ids.add(ex.getRequestHeaders().getFirst("X-User-ID"));
                SendEventRequest req = "application/proto".equals(contentTypes.get(contentTypes.size() - 1))
                        ? SendEventRequest.parseFrom(body) : SendEventRequest.getDefaultInstance();
                h.handle(ex, req, bodies.size());
            });
            server.start();
        }

        String url() {
            return "http://127.0.0.1:" + server.getAddress().getPort() + "/api/v1/events";
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    @Test
    void rest429And5xxAreRetriedWithTheSameBytes() throws Exception {
        try (FakeRest f = new FakeRest((ex, req, n) -> {
            if (n == 1) reply(ex, 429, new byte[0]);
            else if (n == 2) reply(ex, 500, "oops".getBytes(StandardCharsets.UTF_8));
            else reply(ex, 200, ok(req.getReqGuid()));
        }); RaccoonClient c = RaccoonClient.rest(f.url()).connId("u").retryPolicy(FAST).build()) {
            assertEquals(3, c.send(ev(), ev()).get(10, TimeUnit.SECONDS).attempts());
            assertArrayEquals(f.bodies.get(0), f.bodies.get(2));
            assertArrayEquals(f.bodies.get(0), f.bodies.get(1));
            assertEquals("application/proto", f.contentTypes.get(0));
            assertEquals("u", f.ids.get(0));
        }
    }

    @Test
    void rest400IsNotRetriedAndKeepsTheReason() throws Exception {
        try (FakeRest f = new FakeRest((ex, req, n) -> reply(ex, 400,
                "{\"status\":2,\"code\":2,\"sent_time\":1,\"reason\":\"events[0] is null\"}".getBytes(StandardCharsets.UTF_8)));
                RaccoonClient c = RaccoonClient.rest(f.url()).wireType(WireType.JSON).retryPolicy(FAST).build()) {
            RaccoonException e = failure(c.send(ev()));
            assertEquals(List.of(RaccoonException.Kind.BAD_REQUEST, 400, 2, "events[0] is null", 1),
                    List.of(e.kind(), e.httpStatus(), e.code(), e.reason(), e.attempts()));
            assertEquals("application/json", f.contentTypes.get(0));
            assertEquals(1, f.bodies.size());
        }
    }

    @Test
    void maxAttemptsAndTheBudgetAcrossSends() throws Exception {
        try (FakeRest f = new FakeRest((ex, req, n) -> reply(ex, 503, new byte[0]));
                RaccoonClient c = RaccoonClient.rest(f.url()).retryPolicy(FAST.withMaxAttempts(3).withBudget(12, 5, 10)).build()) {
            RaccoonException first = failure(c.send(ev()));
            assertEquals(List.of(RaccoonException.Kind.SERVER, 3, 503, false),
                    List.of(first.kind(), first.attempts(), first.httpStatus(), first.budgetExhausted()));
            RaccoonException second = failure(c.send(ev()));
            assertEquals(List.of(RaccoonException.Kind.SERVER, 1, true),
                    List.of(second.kind(), second.attempts(), second.budgetExhausted()));
            assertEquals(4, f.bodies.size());
        }
    }

    @Test
    void sendTimeoutFlushAndClose() throws Exception {
        List<HttpExchange> held = Collections.synchronizedList(new ArrayList<>());
        try (FakeRest f = new FakeRest((ex, req, n) -> held.add(ex))) {
            RaccoonClient quick = RaccoonClient.rest(f.url()).sendTimeout(Duration.ofMillis(100)).build();
            assertEquals(RaccoonException.Kind.TIMEOUT, failure(quick.send(ev())).kind());
            quick.close();
            RaccoonClient c = RaccoonClient.rest(f.url()).attemptTimeout(Duration.ofSeconds(5)).build();
            PendingSend p = c.send(ev());
            RaccoonException flush = assertThrows(RaccoonException.class, () -> c.flush(Duration.ofMillis(50)));
            assertTrue(flush.getMessage().contains("1 sends still pending"), flush.getMessage());
            assertThrows(RaccoonException.class, () -> c.close(Duration.ofMillis(50)));
            assertEquals(RaccoonException.Kind.CLOSED, failure(p).kind());
            assertEquals(RaccoonException.Kind.CLOSED, failure(c.send(ev())).kind());
            assertEquals(0, c.pendingCount());
        } finally {
            for (HttpExchange ex : held) ex.close();
        }
    }

    @Test
    void maxPendingBoundsWhatWaits() throws Exception {
        List<HttpExchange> held = Collections.synchronizedList(new ArrayList<>());
        try (FakeRest f = new FakeRest((ex, req, n) -> held.add(ex))) {
            RaccoonClient c = RaccoonClient.rest(f.url()).maxPending(2).build();
            c.send(ev());
            c.send(ev());
            RaccoonException e = failure(c.send(ev()));
            assertEquals(RaccoonException.Kind.TRANSPORT, e.kind());
            assertTrue(e.getMessage().contains("buffer full"), e.getMessage());
            assertThrows(RaccoonException.class, () -> c.close(Duration.ofMillis(10)));
        } finally {
            for (HttpExchange ex : held) ex.close();
        }
    }

    @Test
    void grpcRefusesTheJsonWire() {
        RaccoonException e = assertThrows(RaccoonException.class,
                () -> RaccoonClient.grpc("127.0.0.1:1").wireType(WireType.JSON).build());
        assertEquals(RaccoonException.Kind.ENCODING, e.kind());
    }

    @Test
    void grpcUnavailableIsRetriedThenATransportError() throws Exception {
        try (RaccoonClient c = RaccoonClient.grpc("127.0.0.1:1").retryPolicy(FAST.withMaxAttempts(2)).build()) {
            RaccoonException e = failure(c.send(ev()));
            assertEquals(List.of(RaccoonException.Kind.TRANSPORT, "UNAVAILABLE", 2), List.of(e.kind(), e.grpcCode(), e.attempts()));
        }
    }
}
