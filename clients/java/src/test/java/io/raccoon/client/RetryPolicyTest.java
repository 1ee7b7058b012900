package io.raccoon.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Retry decisions, backoff bounds and jitter, the budget. */
@Tag("unit")
class RetryPolicyTest {
    @Test
    void defaultsAsTheDesignSays() {
        assertEquals(new RetryPolicy(5, Duration.ofMillis(100), Duration.ofSeconds(5), 2, 100, 5, 10), RetryPolicy.defaults());
        assertEquals(1, RetryPolicy.defaults().withMaxAttempts(0).maxAttempts());
    }

    @Test
    void cappedExponentialBackoff() {
        RetryPolicy p = RetryPolicy.defaults();
        assertEquals(List.of(0L, 100L, 200L, 400L, 800L, 1600L, 3200L, 5000L, 5000L, 5000L),
                IntStream.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 100).mapToObj(n -> p.backoffCapNanos(n) / 1_000_000).toList());
    }

    @Test
    void fullJitter() {
        RetryPolicy p = RetryPolicy.defaults();
        assertEquals(0, p.backoffNanos(4, () -> 0));
        assertEquals(200_000_000L, p.backoffNanos(4, () -> 0.5));
        long min = Long.MAX_VALUE;
        long max = 0;
        for (int i = 0; i < 2000; i++) {
            long b = p.backoffNanos(4);
            min = Math.min(min, b);
            max = Math.max(max, b);
        }
        assertTrue(min >= 0 && min < 40_000_000L, "min " + min);
        assertTrue(max < 400_000_000L && max > 360_000_000L, "max " + max);
    }

    @Test
    void budget() {
        Budget b = new Budget(12);
        assertTrue(b.take(5));
        assertTrue(b.take(5));
        assertFalse(b.take(5));
        assertEquals(2, b.available());
        for (int i = 0; i < 20; i++) b.refund();
        assertEquals(12, b.available());
        assertTrue(new Budget(0).take(1000), "capacity 0 disables the budget");
    }

    @Test
    void whatIsRetried() {
        Map<Integer, Boolean> http = Map.of(200, false, 400, false, 403, false, 413, false, 429, true, 500, true, 503, true, 599,
                true);
        http.forEach((status, want) -> assertEquals(want, RetryPolicy.retryableHttpStatus(status), "HTTP " + status));
        for (Status.Code c : Status.Code.values()) {
            boolean want = c == Status.Code.UNAVAILABLE || c == Status.Code.RESOURCE_EXHAUSTED || c == Status.Code.DEADLINE_EXCEEDED;
            assertEquals(want, RetryPolicy.retryableGrpcCode(c), c.name());
        }
        Ack internal = new Ack("g", Ack.STATUS_ERROR, Ack.CODE_INTERNAL_ERROR, 1, "broker", Map.of(), 0);
        Ack bad = new Ack("g", Ack.STATUS_ERROR, Ack.CODE_BAD_REQUEST, 1, "bad", Map.of(), 0);
        assertTrue(RetryPolicy.retryableAck(internal));
        assertFalse(RetryPolicy.retryableAck(bad));
        assertEquals(RaccoonException.Kind.SERVER, RetryPolicy.ackError(internal).kind());
        assertEquals(RaccoonException.Kind.BAD_REQUEST, RetryPolicy.ackError(bad).kind());
        for (RaccoonException.Kind k : RaccoonException.Kind.values()) {
            assertEquals(k == RaccoonException.Kind.SERVER || k == RaccoonException.Kind.TRANSPORT,
                    new RaccoonException(k, "").retryable(), k.name());
        }
    }

    @Test
    void exceptionsSayWhatHappened() {
        RaccoonException e = RaccoonException.of(RaccoonException.Kind.BAD_REQUEST).httpStatus(400).code(2)
                .reason("events[0] is null").build();
        e.setReqGuid("g");
        e.setAttempts(1);
        assertEquals("raccoon: bad request (req_guid g, 1 attempt): HTTP 400: code 2: events[0] is null", e.getMessage());
    }
}
