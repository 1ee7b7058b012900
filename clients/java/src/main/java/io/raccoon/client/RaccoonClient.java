package io.raccoon.client;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A client of one Raccoon server over one protocol: WebSocket, REST or gRPC
 * (clients/README.md). Made by a builder:
 *
 * <pre>{@code
 * try (RaccoonClient client = RaccoonClient.webSocket("ws://127.0.0.1:8080/api/v1/events")
 *         .connId("user-1").serialization(Serialization.JSON).build()) {
 *     Ack ack = client.send(Event.of("click", Map.of("x", 1))).get();
 * }
 * }</pre>
 *
 * <p>Thread-safe: any thread may send; futures and callbacks complete on the
 * client's threads.
 */
public final class RaccoonClient implements AutoCloseable {
    /** The protocol a builder makes a client of. */
    public enum Protocol { WEBSOCKET, REST, GRPC }

    private static final System.Logger QUIET = new QuietLogger();
    private static final AtomicInteger CLIENTS = new AtomicInteger();

    final Options options;
    final Budget budget;
    final ScheduledExecutorService scheduler;
    private final Set<PendingSend> outstanding = ConcurrentHashMap.newKeySet();
    private final Object lock = new Object();
    private boolean closed;
    Transport transport;

    /** A builder of a WebSocket client of url (ws://host:port/api/v1/events); build() connects. */
    public static Builder webSocket(String url) {
        return new Builder(Protocol.WEBSOCKET, url);
    }

    /** A builder of a REST client of url (http://host:port/api/v1/events). */
    public static Builder rest(String url) {
        return new Builder(Protocol.REST, url);
    }

    /** A builder of a gRPC client of address (host:port); protobuf wire only. */
    public static Builder grpc(String address) {
        return new Builder(Protocol.GRPC, address);
    }

    /** Every option with its default (clients/README.md, section 1). */
    static final class Options {
        Protocol protocol;
        String target;
        Map<String, String> headers = new LinkedHashMap<>();
        String connId;
        String connIdHeader = "X-User-ID";
        String connGroup;
        String connGroupHeader = "X-User-Group";
        WireType wire = WireType.PROTOBUF;
        Serialization serialization = Serialization.PROTOBUF;
        Duration sendTimeout = Duration.ofSeconds(30);
        Duration attemptTimeout = Duration.ofSeconds(10);
        Duration dialTimeout = Duration.ofSeconds(10);
        RetryPolicy retry = RetryPolicy.defaults();
        int maxReconnects = 60;
        int maxPending = 10_000;
        System.Logger logger = QUIET;
        AckListener onAck;
        Consumer<RaccoonException> onDisconnect;
        Runnable onReconnect;
        Function<Object, byte[]> jsonMapper;
        boolean grpcTls;

        /** The request headers: the user's, then the connection id and group. */
        Map<String, String> requestHeaders() {
            Map<String, String> h = new LinkedHashMap<>(headers);
            if (connId != null) h.put(connIdHeader, connId);
            if (connGroup != null) h.put(connGroupHeader, connGroup);
            return h;
        }
    }

    /** Builder-style options, as OkHttp's and grpc-java's. */
    public static final class Builder {
        private final Options o = new Options();

        private Builder(Protocol protocol, String target) {
            o.protocol = protocol;
            o.target = Objects.requireNonNull(target, "target");
        }

        /** An extra header (gRPC: metadata, lower-cased). */
        public Builder header(String name, String value) {
            o.headers.put(name, value);
            return this;
        }

        /** The connection id, sent in the id header (default X-User-ID, the server's SERVER_WEBSOCKET_CONN_ID_HEADER). */
        public Builder connId(String id) {
            o.connId = id;
            return this;
        }

        public Builder connIdHeader(String name) {
            o.connIdHeader = name;
            return this;
        }

        /** The connection group, sent in the group header (default X-User-Group). */
        public Builder connGroup(String group) {
            o.connGroup = group;
            return this;
        }

        public Builder connGroupHeader(String name) {
            o.connGroupHeader = name;
            return this;
        }

        /** Default PROTOBUF; gRPC refuses JSON. */
        public Builder wireType(WireType w) {
            o.wire = Objects.requireNonNull(w);
            return this;
        }

        /** Default PROTOBUF. */
        public Builder serialization(Serialization s) {
            o.serialization = Objects.requireNonNull(s);
            return this;
        }

        /** Bound on one send, all attempts and backoffs included (default 30 s). */
        public Builder sendTimeout(Duration d) {
            o.sendTimeout = d;
            return this;
        }

        /** Bound on one attempt (default 10 s). */
        public Builder attemptTimeout(Duration d) {
            o.attemptTimeout = d;
            return this;
        }

        /** Bound on one WebSocket handshake (default 10 s). */
        public Builder dialTimeout(Duration d) {
            o.dialTimeout = d;
            return this;
        }

        public Builder retryPolicy(RetryPolicy p) {
            o.retry = Objects.requireNonNull(p);
            return this;
        }

        /** WebSocket reconnects in a row: default 60; 0 never; -1 without end. */
        public Builder maxReconnects(int n) {
            o.maxReconnects = n;
            return this;
        }

        /** Sends waiting at once, the reconnect buffer included (default 10,000). */
        public Builder maxPending(int n) {
            o.maxPending = n;
            return this;
        }

        /** Default: quiet. */
        public Builder logger(System.Logger l) {
            o.logger = Objects.requireNonNull(l);
            return this;
        }

        /** The ack stream: every finished send, once. */
        public Builder onAck(AckListener l) {
            o.onAck = l;
            return this;
        }

        /** WebSocket: called when the connection drops or is refused. */
        public Builder onDisconnect(Consumer<RaccoonException> c) {
            o.onDisconnect = c;
            return this;
        }

        /** WebSocket: called when a reconnect succeeded. */
        public Builder onReconnect(Runnable r) {
            o.onReconnect = r;
            return this;
        }

        /** Writes JSON-serialized values other than Map, List, String, Number, Boolean (Jackson's writeValueAsBytes, say). */
        public Builder jsonMapper(Function<Object, byte[]> mapper) {
            o.jsonMapper = mapper;
            return this;
        }

        /** gRPC: TLS with the platform's trust store (plaintext by default). */
        public Builder grpcTls(boolean tls) {
            o.grpcTls = tls;
            return this;
        }

        /**
         * Makes the client; a WebSocket client connects first and throws a
         * RaccoonException (REFUSED for an HTTP 4xx answer, TRANSPORT otherwise).
         */
        public RaccoonClient build() {
            RaccoonClient c = new RaccoonClient(o);
            switch (o.protocol) {
                case REST -> c.transport = new RestTransport(c, uri(o.target, "http", "https"));
                case GRPC -> {
                    if (o.wire != WireType.PROTOBUF) {
                        c.scheduler.shutdown();
                        throw new RaccoonException(RaccoonException.Kind.ENCODING,
                                "gRPC carries protobuf only, not wire type " + o.wire);
                    }
                    c.transport = new GrpcTransport(c, o.target);
                }
                case WEBSOCKET -> {
                    WebSocketTransport t = new WebSocketTransport(c, uri(o.target, "ws", "wss"));
                    c.transport = t;
                    try {
                        t.connect();
                    } catch (RuntimeException e) {
                        c.scheduler.shutdownNow();
                        throw e;
                    }
                }
            }
            return c;
        }

        private static URI uri(String target, String scheme, String secure) {
            URI u;
            try {
                u = URI.create(target);
            } catch (IllegalArgumentException e) {
                u = null;
            }
            if (u == null || u.getHost() == null || !(scheme.equals(u.getScheme()) || secure.equals(u.getScheme()))) {
                throw new RaccoonException(RaccoonException.Kind.ENCODING,
                        "needs a " + scheme + ":// or " + secure + ":// URL, got " + target);
            }
            return u;
        }
    }

    private RaccoonClient(Options options) {
        this.options = options;
        this.budget = new Budget(options.retry.budgetCapacity());
        ScheduledThreadPoolExecutor s = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "raccoon-client-" + CLIENTS.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        s.setRemoveOnCancelPolicy(true);
        this.scheduler = s;
    }

    /** Sends one batch; the req_guid is a random UUID. */
    public PendingSend send(Event... events) {
        return send(List.of(events));
    }

    /** Sends one batch; the req_guid is a random UUID. */
    public PendingSend send(List<Event> events) {
        return send(events, UUID.randomUUID().toString());
    }

    /**
     * Sends one batch with the caller's req_guid and returns at once. The
     * future completes with the ack of a batch the server took, or
     * exceptionally with a {@link RaccoonException}.
     */
    public PendingSend send(List<Event> events, String reqGuid) {
        Codec.Request req;
        try {
            req = Codec.encodeRequest(reqGuid, Instant.now(), events, options.wire, options.serialization, options.jsonMapper);
        } catch (RaccoonException e) {
            return failed(reqGuid, e);
        }
        PendingSend p = new PendingSend(req);
        synchronized (lock) {
            if (closed) return failed(reqGuid, new RaccoonException(RaccoonException.Kind.CLOSED, "the client is closed"));
            if (options.maxPending > 0 && outstanding.size() >= options.maxPending) {
                return failed(reqGuid, new RaccoonException(RaccoonException.Kind.TRANSPORT,
                        "buffer full: " + options.maxPending + " sends pending"));
            }
            outstanding.add(p);
        }
        p.timeout = scheduler.schedule(() -> finish(p, null, timeoutError(p)), options.sendTimeout.toNanos(),
                TimeUnit.NANOSECONDS);
        transport.start(p);
        return p;
    }

    private static PendingSend failed(String reqGuid, RaccoonException e) {
        Codec.Request none = new Codec.Request(reqGuid, WireType.PROTOBUF, new byte[0], null, 0);
        PendingSend p = new PendingSend(none);
        e.setReqGuid(reqGuid);
        p.completeExceptionally(e);
        return p;
    }

    RaccoonException timeoutError(PendingSend p) {
        RaccoonException last = p.lastError;
        RaccoonException e = new RaccoonException(RaccoonException.Kind.TIMEOUT,
                "no ack within " + options.sendTimeout.toMillis() + " ms", p.reqGuid(), p.attempts(),
                last == null ? 0 : last.httpStatus(), last == null ? null : last.grpcCode(),
                last == null ? 0 : last.code(), last == null ? "" : last.reason(), last);
        return e;
    }

    /** Ends a send once: success with ack, or failure with err. */
    void finish(PendingSend p, Ack ack, RaccoonException err) {
        if (!p.markFinished()) return;
        Ack done = null;
        if (ack != null) {
            done = ack.withAttempts(p.attempts());
        } else {
            if (err.reqGuid().isEmpty()) err.setReqGuid(p.reqGuid());
            if (err.attempts() == 0) err.setAttempts(p.attempts());
        }
        if (p.timeout != null) p.timeout.cancel(false);
        Runnable cancel = p.cancelAttempt;
        if (cancel != null) cancel.run();
        outstanding.remove(p);
        transport.forget(p);
        if (done != null) budget.refund();
        // The ack stream first: when a future completes, its ack was streamed.
        if (options.onAck != null) {
            try {
                options.onAck.onAck(p.reqGuid(), done, done == null ? err : null);
            } catch (RuntimeException e) {
                options.logger.log(System.Logger.Level.WARNING, "raccoon: the ack listener threw", e);
            }
        }
        if (done != null) p.complete(done);
        else p.completeExceptionally(err);
    }

    /**
     * The retry loop of REST and gRPC: attempt until an ack, a non-retryable
     * error, the last attempt, an empty budget or the end of the send.
     */
    void runAttempts(PendingSend p, Function<PendingSend, CompletableFuture<Ack>> attempt) {
        if (p.finished()) return;
        int n = p.addAttempt();
        CompletableFuture<Ack> f;
        try {
            f = attempt.apply(p);
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((ack, thrown) -> afterAttempt(p, n, ack, thrown, attempt));
    }

    private void afterAttempt(PendingSend p, int n, Ack ack, Throwable thrown,
            Function<PendingSend, CompletableFuture<Ack>> attempt) {
        if (p.finished()) return;
        RaccoonException e;
        if (thrown == null) {
            if (ack.ok()) {
                finish(p, ack, null);
                return;
            }
            e = RetryPolicy.ackError(ack);
        } else {
            Throwable c = unwrap(thrown);
            e = c instanceof RaccoonException re ? re
                    : RaccoonException.of(RaccoonException.Kind.TRANSPORT).detail(String.valueOf(c)).cause(c).build();
        }
        e.setReqGuid(p.reqGuid());
        e.setAttempts(n);
        p.lastError = e;
        RetryPolicy policy = options.retry;
        if (!e.retryable() || n >= policy.maxAttempts()) {
            finish(p, null, e);
            return;
        }
        if (!budget.take(e.attemptTimedOut ? policy.timeoutCost() : policy.retryCost())) {
            e.setBudgetExhausted();
            finish(p, null, e);
            return;
        }
        long wait = policy.backoffNanos(n + 1);
        options.logger.log(System.Logger.Level.DEBUG, "raccoon: retrying {0} (attempt {1}) in {2} ms: {3}",
                p.reqGuid(), n + 1, wait / 1_000_000, e.getMessage());
        scheduler.schedule(() -> runAttempts(p, attempt), wait, TimeUnit.NANOSECONDS);
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /**
     * Waits until every send made before it finished; throws a TIMEOUT
     * RaccoonException naming how many are still pending when timeout passes.
     */
    public void flush(Duration timeout) {
        List<PendingSend> pending = new ArrayList<>(outstanding);
        CompletableFuture<?> all = CompletableFuture.allOf(pending.stream()
                .map(p -> p.handle((a, t) -> null)).toArray(CompletableFuture[]::new));
        try {
            all.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            long left = pending.stream().filter(p -> !p.isDone()).count();
            throw new RaccoonException(RaccoonException.Kind.TIMEOUT,
                    "flush: " + left + " sends still pending after " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RaccoonException(RaccoonException.Kind.TIMEOUT, "flush interrupted");
        } catch (ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Refuses new sends, flushes up to timeout, fails what is still pending
     * with a CLOSED exception and closes the connection. Throws the flush's
     * TIMEOUT exception if sends were still pending.
     */
    public void close(Duration timeout) {
        synchronized (lock) {
            if (closed) return;
            closed = true;
        }
        RaccoonException flushError = null;
        try {
            flush(timeout);
        } catch (RaccoonException e) {
            flushError = e;
        }
        for (PendingSend p : new ArrayList<>(outstanding)) {
            finish(p, null, new RaccoonException(RaccoonException.Kind.CLOSED, "the client was closed before the ack"));
        }
        transport.close();
        scheduler.shutdownNow();
        if (flushError != null) throw flushError;
    }

    /** close(10 s). */
    @Override
    public void close() {
        close(Duration.ofSeconds(10));
    }

    /** How many sends have not finished. */
    public int pendingCount() {
        return outstanding.size();
    }

    private static final class QuietLogger implements System.Logger {
        @Override
        public String getName() {
            return "raccoon";
        }

        @Override
        public boolean isLoggable(Level level) {
            return false;
        }

        @Override
        public void log(Level level, java.util.ResourceBundle bundle, String msg, Throwable thrown) {}

        @Override
        public void log(Level level, java.util.ResourceBundle bundle, String format, Object... params) {}
    }
}
