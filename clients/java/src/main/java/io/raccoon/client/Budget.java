package io.raccoon.client;

/** The retry token bucket of one client. */
final class Budget {
    private final int capacity;
    private int tokens;

    Budget(int capacity) {
        this.capacity = capacity;
        this.tokens = capacity;
    }

    /** Whether a retry costing cost tokens may go; takes them if so. */
    synchronized boolean take(int cost) {
        if (capacity <= 0) return true;
        if (tokens < cost) return false;
        tokens -= cost;
        return true;
    }

    synchronized void refund() {
        if (tokens < capacity) tokens++;
    }

    synchronized int available() {
        return tokens;
    }
}
