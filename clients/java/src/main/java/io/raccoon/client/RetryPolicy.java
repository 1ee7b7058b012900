package io.raccoon.client;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;

/**
 * How failed attempts are retried (clients/README.md, section 4): capped
 * exponential backoff with full jitter, a maximum number of attempts, and a
 * retry budget shared by every send of one client.
 *
 * @param maxAttempts counts the first attempt: 1 disables retries
 * @param initialBackoff before attempt n (n &ge; 2) the client sleeps a uniformly random time in
 *     [0, min(maxBackoff, initialBackoff &times; multiplier^(n-2))]
 * @param maxBackoff the cap of the sleep
 * @param multiplier the growth of the sleep's bound
 * @param budgetCapacity the retry budget's tokens, full at start; 0 disables the budget
 * @param retryCost tokens a retry takes
 * @param timeoutCost tokens a retry after a timed-out attempt takes
 */
public record RetryPolicy(int maxAttempts, Duration initialBackoff, Duration maxBackoff, double multiplier,
        int budgetCapacity, int retryCost, int timeoutCost) {

    public RetryPolicy {
        if (maxAttempts < 1) maxAttempts = 1;
    }

    /** 5 attempts, 100 ms doubling up to 5 s, a budget of 100 tokens, 5 a retry, 10 after a timeout. */
    public static RetryPolicy defaults() {
        return new RetryPolicy(5, Duration.ofMillis(100), Duration.ofSeconds(5), 2, 100, 5, 10);
    }

    public RetryPolicy withMaxAttempts(int n) {
        return new RetryPolicy(n, initialBackoff, maxBackoff, multiplier, budgetCapacity, retryCost, timeoutCost);
    }

    public RetryPolicy withBackoff(Duration initial, Duration max) {
        return new RetryPolicy(maxAttempts, initial, max, multiplier, budgetCapacity, retryCost, timeoutCost);
    }

    public RetryPolicy withBudget(int capacity, int retry, int timeout) {
        return new RetryPolicy(maxAttempts, initialBackoff, maxBackoff, multiplier, capacity, retry, timeout);
    }

    /** The upper bound of the sleep before attempt n (n &ge; 2), in nanoseconds. */
    public long backoffCapNanos(int attempt) {
        if (attempt < 2) return 0;
        double b = initialBackoff.toNanos() * Math.pow(multiplier, attempt - 2);
        long max = maxBackoff.toNanos();
        return Double.isFinite(b) && b < max ? (long) b : max;
    }

    /** The sleep before attempt n with full jitter; random gives a number in [0, 1). */
    public long backoffNanos(int attempt, DoubleSupplier random) {
        return (long) (random.getAsDouble() * backoffCapNanos(attempt));
    }

    long backoffNanos(int attempt) {
        return backoffNanos(attempt, () -> ThreadLocalRandom.current().nextDouble());
    }

    /** REST: 429 and every 5xx. */
    public static boolean retryableHttpStatus(int status) {
        return status == 429 || (status >= 500 && status <= 599);
    }

    /** gRPC: UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED. */
    public static boolean retryableGrpcCode(io.grpc.Status.Code code) {
        return code == io.grpc.Status.Code.UNAVAILABLE || code == io.grpc.Status.Code.RESOURCE_EXHAUSTED
                || code == io.grpc.Status.Code.DEADLINE_EXCEEDED;
    }

    /** An ack with STATUS_ERROR and CODE_INTERNAL_ERROR: the broker failed; a later attempt may succeed. */
    public static boolean retryableAck(Ack ack) {
        return ack.status() == Ack.STATUS_ERROR && ack.code() == Ack.CODE_INTERNAL_ERROR;
    }

    /** The exception a failed ack means. */
    static RaccoonException ackError(Ack ack) {
        RaccoonException.Kind kind = retryableAck(ack) ? RaccoonException.Kind.SERVER : RaccoonException.Kind.BAD_REQUEST;
        return RaccoonException.of(kind).code(ack.code()).reason(ack.reason()).build();
    }
}
