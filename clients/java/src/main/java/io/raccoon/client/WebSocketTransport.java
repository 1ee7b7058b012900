package io.raccoon.client;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * WebSocket by the JDK's java.net.http.WebSocket: one connection, requests
 * written in send order (one outstanding write at a time, as the JDK's
 * WebSocket wants), acks matched by req_guid, reconnects with backoff that
 * re-send every unacked request with its req_guid, and the server's refusal
 * recognised (clients/README.md, section 5).
 */
final class WebSocketTransport implements Transport {
    private static final int MAX_ACK_BYTES = 1 << 20;

    private final RaccoonClient c;
    private final URI uri;
    private final HttpClient http;
    private final Map<String, String> headers;

    // Everything below is guarded by this.
    private Conn conn;
    private long gen;
    private long seq;
    private final Map<String, Entry> inflight = new HashMap<>();
    private RaccoonException refused;
    private RaccoonException dead;
    private boolean closing;
    private boolean reconnecting;

    /** One send's state on the connection. */
    private static final class Entry {
        final PendingSend p;
        final long seq;
        long gen; // the connection generation it was last written on; 0 when due
        ScheduledFuture<?> timer;
        RaccoonException last;

        Entry(PendingSend p, long seq) {
            this.p = p;
            this.seq = seq;
        }
    }

    /** One connection: its socket, generation and write chain. */
    private final class Conn implements WebSocket.Listener {
        final long gen;
        volatile WebSocket ws;
        private CompletableFuture<?> writes = CompletableFuture.completedFuture(null);
        private final ByteArrayOutputStream binary = new ByteArrayOutputStream();
        private final StringBuilder text = new StringBuilder();
        private boolean ended;

        Conn(long gen) {
            this.gen = gen;
        }

        /** Queues one message after the previous one (the JDK allows one outstanding send). */
        synchronized void write(byte[] body, WireType wire, Runnable onFailure) {
            writes = writes.handle((x, t) -> null).thenCompose(x -> wire == WireType.JSON
                    ? ws.sendText(new String(body, StandardCharsets.UTF_8), true)
                    : ws.sendBinary(ByteBuffer.wrap(body), true))
                    .whenComplete((x, t) -> {
                        if (t != null) onFailure.run();
                    });
        }

        @Override
        public void onOpen(WebSocket webSocket) {
            ws = webSocket;
            webSocket.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                String s = text.toString();
                text.setLength(0);
                onMessage(this, s.getBytes(StandardCharsets.UTF_8), WireType.JSON);
            } else if (text.length() > MAX_ACK_BYTES) {
                webSocket.abort();
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            binary.write(b, 0, b.length);
            if (last) {
                byte[] all = binary.toByteArray();
                binary.reset();
                onMessage(this, all, WireType.PROTOBUF);
            } else if (binary.size() > MAX_ACK_BYTES) {
                webSocket.abort();
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            ended(RaccoonException.of(RaccoonException.Kind.TRANSPORT)
                    .detail("connection closed (" + statusCode + (reason.isEmpty() ? "" : " " + reason) + ")").build());
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            ended(RaccoonException.of(RaccoonException.Kind.TRANSPORT).detail(String.valueOf(error)).cause(error).build());
        }

        synchronized boolean isEnded() {
            return ended;
        }

        private void ended(RaccoonException why) {
            synchronized (this) {
                if (ended) return;
                ended = true;
            }
            WebSocket w = ws;
            if (w != null) w.abort();
            onDrop(this, why);
        }
    }

    WebSocketTransport(RaccoonClient c, URI uri) {
        this.c = c;
        this.uri = uri;
        this.http = HttpClient.newBuilder().connectTimeout(c.options.dialTimeout).build();
        this.headers = c.options.requestHeaders();
    }

    /** The first connection, made by build(): it blocks for the handshake. */
    void connect() {
        CompletableFuture<Conn> f = dial();
        Conn first;
        try {
            first = f.get(c.options.dialTimeout.toNanos() + TimeUnit.SECONDS.toNanos(1), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw (RaccoonException) RaccoonClient.unwrap(e);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new RaccoonException(RaccoonException.Kind.TRANSPORT, "no WebSocket handshake within the dial timeout");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RaccoonException(RaccoonException.Kind.TRANSPORT, "interrupted while connecting");
        }
        attach(first, false);
    }

    /** Opens one connection; an HTTP 4xx (but 429) answer to the upgrade is a REFUSED exception. */
    private CompletableFuture<Conn> dial() {
        Conn next;
        synchronized (this) {
            next = new Conn(++gen);
        }
        CompletableFuture<WebSocket> opening;
        try {
            WebSocket.Builder b = http.newWebSocketBuilder().connectTimeout(c.options.dialTimeout);
            headers.forEach(b::header);
            opening = b.buildAsync(uri, next);
        } catch (IllegalArgumentException e) {
            // A header the JDK's WebSocket does not let a client set (Connection, Upgrade, Sec-WebSocket-*).
            return CompletableFuture.failedFuture(RaccoonException.of(RaccoonException.Kind.ENCODING)
                    .detail(e.getMessage()).cause(e).build());
        }
        return opening.handle((ws, thrown) -> {
            if (thrown == null) {
                next.ws = ws;
                return next;
            }
            Throwable t = RaccoonClient.unwrap(thrown);
            if (t instanceof WebSocketHandshakeException h && h.getResponse() != null) {
                int status = h.getResponse().statusCode();
                Object body = h.getResponse().body();
                String reason = body instanceof byte[] bytes ? new String(bytes, StandardCharsets.UTF_8).trim()
                        : body == null ? "" : body.toString().trim();
                throw RaccoonException.of(status >= 400 && status < 500 && status != 429
                        ? RaccoonException.Kind.REFUSED : RaccoonException.Kind.TRANSPORT)
                        .httpStatus(status).reason(reason).detail("the server did not upgrade the connection")
                        .cause(t).build();
            }
            if (t instanceof IllegalArgumentException) {
                throw RaccoonException.of(RaccoonException.Kind.ENCODING).detail(t.getMessage()).cause(t).build();
            }
            throw RaccoonException.of(RaccoonException.Kind.TRANSPORT).detail(String.valueOf(t)).cause(t).build();
        });
    }

    /** Makes next the current connection and writes, in send order, every unacked request not yet written on it. */
    private void attach(Conn next, boolean fromReconnect) {
        List<Entry> due = new ArrayList<>();
        boolean again = false;
        synchronized (this) {
            if (fromReconnect) reconnecting = false;
            if (closing || refused != null) {
                next.ws.sendClose(WebSocket.NORMAL_CLOSURE, "");
                return;
            }
            if (next.isEnded()) {
                // Dropped before it was taken: its drop found a reconnect under way.
                again = !reconnecting;
                reconnecting = true;
            }
        }
        if (again) {
            reconnect(1, new RaccoonException(RaccoonException.Kind.TRANSPORT, "connection lost at once"));
            return;
        }
        synchronized (this) {
            if (next.isEnded()) return;
            conn = next;
            for (Entry e : inflight.values()) {
                if (e.gen != next.gen) {
                    e.gen = 0;
                    due.add(e);
                }
            }
            due.sort(Comparator.comparingLong(e -> e.seq));
            for (Entry e : due) write(e, next);
        }
    }

    @Override
    public void start(PendingSend p) {
        RaccoonException failure;
        synchronized (this) {
            failure = refused != null ? refused : dead;
            if (failure == null) {
                Entry e = new Entry(p, ++seq);
                inflight.put(p.reqGuid(), e);
                if (conn != null) write(e, conn);
                return;
            }
        }
        c.finish(p, null, failure.copyFor(p.reqGuid(), 0));
    }

    /** Writes e on cn as one more attempt; holds this. */
    private void write(Entry e, Conn cn) {
        PendingSend p = e.p;
        if (p.finished()) return;
        if (p.attempts() >= c.options.retry.maxAttempts()) {
            RaccoonException last = e.last != null ? e.last
                    : new RaccoonException(RaccoonException.Kind.TRANSPORT, "connection lost before the ack");
            c.scheduler.execute(() -> c.finish(p, null, last));
            return;
        }
        p.addAttempt();
        e.gen = cn.gen;
        if (e.timer != null) e.timer.cancel(false);
        long g = cn.gen;
        e.timer = c.scheduler.schedule(() -> attemptTimedOut(e, g), c.options.attemptTimeout.toNanos(),
                TimeUnit.NANOSECONDS);
        cn.write(p.request.body(), p.request.wire(), () -> {
            // The connection is broken: the reader sees it, the next connection re-sends.
            c.options.logger.log(System.Logger.Level.DEBUG, "raccoon: write of {0} failed", p.reqGuid());
            WebSocket w = cn.ws;
            if (w != null) w.abort();
        });
    }

    private void attemptTimedOut(Entry e, long g) {
        synchronized (this) {
            if (inflight.get(e.p.reqGuid()) != e || e.gen != g) return;
        }
        RaccoonException err = new RaccoonException(RaccoonException.Kind.TRANSPORT,
                "no ack within " + c.options.attemptTimeout.toMillis() + " ms");
        retryLater(e, err, c.options.retry.timeoutCost());
    }

    /** Re-sends e after a backoff, if attempts and budget allow. */
    private void retryLater(Entry e, RaccoonException err, int cost) {
        PendingSend p = e.p;
        RetryPolicy policy = c.options.retry;
        p.lastError = err;
        if (p.attempts() >= policy.maxAttempts()) {
            c.finish(p, null, err);
            return;
        }
        if (!c.budget.take(cost)) {
            err.setBudgetExhausted();
            c.finish(p, null, err);
            return;
        }
        synchronized (this) {
            e.last = err;
            e.gen = 0;
            if (e.timer != null) e.timer.cancel(false);
            e.timer = c.scheduler.schedule(() -> {
                synchronized (this) {
                    if (inflight.get(p.reqGuid()) == e && e.gen == 0 && conn != null) write(e, conn);
                }
            }, policy.backoffNanos(p.attempts() + 1), TimeUnit.NANOSECONDS);
        }
    }

    private void onMessage(Conn from, byte[] data, WireType wire) {
        Ack ack;
        try {
            ack = Codec.decodeAck(data, wire);
        } catch (Exception ex) {
            c.options.logger.log(System.Logger.Level.WARNING, "raccoon: undecodable message from the server: {0}", ex);
            return;
        }
        if (ack.reqGuid().isEmpty() && ack.status() == Ack.STATUS_ERROR
                && (ack.code() == Ack.CODE_MAX_USER_LIMIT_REACHED || ack.code() == Ack.CODE_MAX_CONNECTION_LIMIT_REACHED)) {
            failAll(RaccoonException.of(RaccoonException.Kind.REFUSED).code(ack.code()).reason(ack.reason())
                    .detail("the server refused the connection").build(), true);
            return;
        }
        Entry e;
        synchronized (this) {
            e = inflight.get(ack.reqGuid());
        }
        if (e == null) {
            c.options.logger.log(System.Logger.Level.DEBUG, "raccoon: ack for no pending send: {0}", ack.reqGuid());
            return;
        }
        if (ack.ok()) {
            c.finish(e.p, ack, null);
            return;
        }
        RaccoonException err = RetryPolicy.ackError(ack);
        if (!err.retryable()) {
            c.finish(e.p, null, err);
            return;
        }
        retryLater(e, err, c.options.retry.retryCost());
    }

    private void onDrop(Conn from, RaccoonException why) {
        RaccoonException reported;
        boolean stop;
        synchronized (this) {
            if (conn != from && conn != null) return; // an old connection
            conn = null;
            reported = refused != null ? refused : why;
            stop = closing || refused != null || reconnecting;
            if (!stop) reconnecting = true;
        }
        if (c.options.onDisconnect != null) {
            try {
                c.options.onDisconnect.accept(reported);
            } catch (RuntimeException ex) {
                c.options.logger.log(System.Logger.Level.WARNING, "raccoon: onDisconnect threw", ex);
            }
        }
        if (stop) return;
        c.options.logger.log(System.Logger.Level.INFO, "raccoon: WebSocket dropped ({0}); reconnecting", why.getMessage());
        reconnect(1, why);
    }

    /** Reconnect attempt n (from 1), after its backoff. */
    private void reconnect(int n, RaccoonException last) {
        int max = c.options.maxReconnects;
        if (max >= 0 && n > max) {
            synchronized (this) {
                reconnecting = false;
            }
            failAll(new RaccoonException(RaccoonException.Kind.TRANSPORT, "gave up reconnecting: " + last.getMessage()),
                    false);
            return;
        }
        long wait = c.options.retry.backoffNanos(n + 1);
        try {
            c.scheduler.schedule(() -> {
                synchronized (this) {
                    if (closing) {
                        reconnecting = false;
                        return;
                    }
                }
                dial().whenComplete((next, thrown) -> {
                    if (thrown != null) {
                        RaccoonException e = (RaccoonException) RaccoonClient.unwrap(thrown);
                        if (e.kind() == RaccoonException.Kind.REFUSED) {
                            synchronized (this) {
                                reconnecting = false;
                            }
                            failAll(e, true);
                            return;
                        }
                        reconnect(n + 1, e);
                        return;
                    }
                    attach(next, true);
                    if (c.options.onReconnect != null) c.options.onReconnect.run();
                });
            }, wait, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            // the client closed
        }
    }

    /** Ends every unacked send with err, and every later one too. */
    private void failAll(RaccoonException err, boolean isRefusal) {
        List<Entry> entries;
        synchronized (this) {
            if (isRefusal) refused = err;
            else dead = err;
            entries = new ArrayList<>(inflight.values());
        }
        for (Entry e : entries) c.finish(e.p, null, err.copyFor(e.p.reqGuid(), e.p.attempts()));
    }

    @Override
    public void forget(PendingSend p) {
        synchronized (this) {
            Entry e = inflight.get(p.reqGuid());
            if (e != null && e.p == p) {
                inflight.remove(p.reqGuid());
                if (e.timer != null) e.timer.cancel(false);
            }
        }
    }

    @Override
    public void close() {
        Conn cn;
        synchronized (this) {
            closing = true;
            cn = conn;
        }
        if (cn != null && cn.ws != null) {
            try {
                cn.ws.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                cn.ws.abort();
            }
        }
    }
}
