package io.raccoon.client;

import java.util.Objects;

/**
 * One event: its type (which names the topic through the server's
 * EVENT_DISTRIBUTION_PUBLISHER_PATTERN) and its data: a {@code byte[]} (sent as
 * given), a protobuf {@code Message}, or a JSON-able value (Map, List, String,
 * Number, Boolean, null) when the serialization is JSON.
 */
public record Event(String type, Object data) {
    public Event {
        Objects.requireNonNull(type, "type");
    }

    public static Event of(String type, Object data) {
        return new Event(type, data);
    }
}
