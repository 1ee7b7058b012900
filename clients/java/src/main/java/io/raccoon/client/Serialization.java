package io.raccoon.client;

/** How an event's data becomes its event_bytes (clients/README.md, section 2). */
public enum Serialization {
    /** byte[] as given; a protobuf Message by its deterministic binary encoding. */
    PROTOBUF,
    /** byte[] as given; a protobuf Message by its canonical JSON; other values as compact JSON. */
    JSON
}
