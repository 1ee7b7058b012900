package io.raccoon.client;

/** Delivers requests for one protocol. */
interface Transport {
    /** Begins delivering p; the transport ends it with RaccoonClient.finish. */
    void start(PendingSend p);

    /** Drops what the transport holds for a finished p. */
    void forget(PendingSend p);

    /** Ends connections; pending sends were failed before. */
    void close();
}
