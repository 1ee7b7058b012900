package raccoon_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	raccoon "github.com/raccoon-cpp/raccoon/clients/go"
)

// A WebSocket client sends many batches at once; each Pending gives its ack.
func ExampleNewWebSocket() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := raccoon.NewWebSocket(ctx, "ws://127.0.0.1:8080/api/v1/events",
		raccoon.WithConnID("user-42"),
		raccoon.WithSerialization(raccoon.SerializeJSON),
		raccoon.WithAckHandler(func(guid string, ack *raccoon.Ack, err error) {
			log.Printf("ack for %s: %v %v", guid, ack, err)
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	p, err := c.Send(ctx, raccoon.Event{Type: "click", Data: map[string]any{"button": "buy"}})
	if err != nil {
		log.Fatal(err)
	}
	ack, err := p.Wait(ctx)
	var rerr *raccoon.Error
	switch {
	case errors.Is(err, raccoon.ErrRefused):
		log.Fatal("another connection uses this id: ", err)
	case errors.As(err, &rerr):
		log.Fatalf("not delivered after %d attempts: %v", rerr.Attempts, err)
	}
	fmt.Println(ack.ReqGUID == p.ReqGUID)
}

// REST with a JSON request and protobuf event data, and a custom retry policy.
func ExampleNewREST() {
	ctx := context.Background()
	policy := raccoon.DefaultRetryPolicy()
	policy.MaxAttempts = 3
	c, err := raccoon.NewREST("http://127.0.0.1:8080/api/v1/events",
		raccoon.WithWireType(raccoon.WireJSON),
		raccoon.WithRetryPolicy(policy))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	data, _ := structpb.NewStruct(map[string]any{"page": "/home"})
	if _, err := c.SendWait(ctx, raccoon.Event{Type: "page_view", Data: data}); err != nil {
		log.Fatal(err)
	}
}

// gRPC carries protobuf requests; event data may still be JSON.
func ExampleNewGRPC() {
	ctx := context.Background()
	c, err := raccoon.NewGRPC("127.0.0.1:8081", raccoon.WithConnID("service-a"),
		raccoon.WithSerialization(raccoon.SerializeJSON))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.SendWait(ctx, raccoon.Event{Type: "order", Data: []byte(`{"id":7}`)}); err != nil {
		log.Fatal(err)
	}
}
