package io.raccoon.client;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/** REST: each batch POSTed to /api/v1/events by the JDK's HttpClient. */
final class RestTransport implements Transport {
    private final RaccoonClient c;
    private final URI uri;
    private final HttpClient http;
    private final Map<String, String> headers;

    RestTransport(RaccoonClient c, URI uri) {
        this.c = c;
        this.uri = uri;
        this.http = HttpClient.newBuilder().connectTimeout(c.options.dialTimeout).build();
        this.headers = c.options.requestHeaders();
    }

    @Override
    public void start(PendingSend p) {
        c.runAttempts(p, this::attempt);
    }

    private CompletableFuture<Ack> attempt(PendingSend p) {
        WireType wire = p.request.wire();
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(c.options.attemptTimeout)
                .POST(HttpRequest.BodyPublishers.ofByteArray(p.request.body()));
        headers.forEach(b::header);
        b.header("Content-Type", wire == WireType.JSON ? "application/json" : "application/proto");
        CompletableFuture<HttpResponse<byte[]>> f = http.sendAsync(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        p.cancelAttempt = () -> f.cancel(true);
        return f.handle((resp, thrown) -> {
            p.cancelAttempt = null;
            if (thrown != null) {
                Throwable t = RaccoonClient.unwrap(thrown);
                RaccoonException e = RaccoonException.of(RaccoonException.Kind.TRANSPORT).detail(String.valueOf(t)).cause(t)
                        .build();
                if (t instanceof HttpTimeoutException) e.attemptTimedOut = true;
                throw e;
            }
            return answer(p, resp);
        });
    }

    private Ack answer(PendingSend p, HttpResponse<byte[]> resp) {
        byte[] body = resp.body();
        Ack ack = null;
        Exception decodeError = null;
        try {
            ack = Codec.decodeAck(body, p.request.wire());
        } catch (Exception e) {
            decodeError = e;
        }
        int status = resp.statusCode();
        if (status == 200) {
            if (ack == null) {
                throw RaccoonException.of(RaccoonException.Kind.SERVER).httpStatus(200)
                        .detail("undecodable ack: " + decodeError).cause(decodeError).build();
            }
            if (!ack.reqGuid().equals(p.reqGuid())) {
                c.options.logger.log(System.Logger.Level.WARNING, "raccoon: REST ack names {0}, sent {1}", ack.reqGuid(),
                        p.reqGuid());
            }
            return ack;
        }
        RaccoonException.Builder e = RaccoonException.of(RetryPolicy.retryableHttpStatus(status)
                ? RaccoonException.Kind.SERVER : RaccoonException.Kind.BAD_REQUEST).httpStatus(status);
        if (ack != null && (ack.code() != 0 || !ack.reason().isEmpty())) {
            e.code(ack.code()).reason(ack.reason());
        } else {
            e.reason(new String(Arrays.copyOf(body, Math.min(body.length, 200)), StandardCharsets.UTF_8).trim());
        }
        throw e.build();
    }

    @Override
    public void forget(PendingSend p) {}

    @Override
    public void close() {}
}
