package io.raccoon.client;

/** How the request and its ack travel (clients/README.md, section 2). */
public enum WireType {
    /** A protobuf SendEventRequest: a binary WebSocket frame, REST's application/proto, gRPC. */
    PROTOBUF,
    /** A JSON request: a text WebSocket frame, REST's application/json; not gRPC. */
    JSON
}
