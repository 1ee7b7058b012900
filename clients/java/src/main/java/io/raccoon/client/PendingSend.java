package io.raccoon.client;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;

/**
 * One send in flight: its req_guid at once, and a future of its {@link Ack}
 * that completes exceptionally with a {@link RaccoonException}. Futures complete
 * on the client's threads: chain heavy work onto an executor of your own.
 */
public final class PendingSend extends CompletableFuture<Ack> {
    private final String reqGuid;
    final Codec.Request request;
    private int attempts;
    volatile RaccoonException lastError;
    ScheduledFuture<?> timeout;
    volatile Runnable cancelAttempt;

    PendingSend(Codec.Request request) {
        this.reqGuid = request.reqGuid();
        this.request = request;
    }

    /** The request's req_guid, the same on every attempt. */
    public String reqGuid() {
        return reqGuid;
    }

    /** How many times the request was sent so far. */
    public synchronized int attempts() {
        return attempts;
    }

    private boolean finished;

    /** True once: the send ends here. */
    synchronized boolean markFinished() {
        if (finished || isDone()) return false;
        finished = true;
        return true;
    }

    synchronized boolean finished() {
        return finished || isDone();
    }

    synchronized int addAttempt() {
        return ++attempts;
    }
}
