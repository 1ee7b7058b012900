package io.raccoon.client;

/**
 * The ack stream: called once for every finished send, with its ack or the
 * exception that ended it. Runs on a client thread: it must not block.
 */
@FunctionalInterface
public interface AckListener {
    void onAck(String reqGuid, Ack ack, RaccoonException error);
}
