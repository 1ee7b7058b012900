// Package raccoon is a client for Raccoon, the clickstream ingestion server
// (wire-compatible with raystack/raccoon), over WebSocket, REST and gRPC.
//
// A client is made for one protocol with functional options:
//
//	c, err := raccoon.NewWebSocket(ctx, "ws://127.0.0.1:8080/api/v1/events",
//		raccoon.WithConnID("user-1"),
//		raccoon.WithWireType(raccoon.WireProtobuf),
//		raccoon.WithSerialization(raccoon.SerializeJSON))
//	defer c.Close(ctx)
//	p, err := c.Send(ctx, raccoon.Event{Type: "click", Data: map[string]any{"x": 1}})
//	ack, err := p.Wait(ctx)
//
// Send returns a Pending at once, with the request's req_guid; Wait blocks
// until the server acknowledged the batch or the send failed for good.
// Failed attempts are retried with capped exponential backoff and full
// jitter, always with the same req_guid (see RetryPolicy). A WebSocket
// client reconnects after a drop and re-sends every unacked request.
//
// The design is shared with the clients in other languages: clients/README.md
// in the repository.
package raccoon
