//go:build integration

// Integration tests against the real raccoon binary and the real Kafka
// broker: go test -tags integration, with RACCOON_BIN and RACCOON_KAFKA_DIR
// (clients/CMakeLists.txt runs them under ctest's kafka fixture).
package raccoon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	raccoon "github.com/raccoon-cpp/raccoon/clients/go"
	"github.com/raccoon-cpp/raccoon/clients/go/internal/pb"
	"github.com/raccoon-cpp/raccoon/clients/go/internal/testserver"
)

// fastRetry keeps the fault tests quick.
func fastRetry() raccoon.RetryPolicy {
	p := raccoon.DefaultRetryPolicy()
	p.InitialBackoff = 20 * time.Millisecond
	p.MaxBackoff = 500 * time.Millisecond
	return p
}

// events makes count events of one type whose data suits the
// serialization: a protobuf message or a JSON value, and raw bytes with
// NULs, high bytes and invalid UTF-8 every third event.
func events(t *testing.T, eventType string, s raccoon.Serialization, tag string, count int) []raccoon.Event {
	out := make([]raccoon.Event, count)
	for i := range out {
		var data any
		switch {
		case i%3 == 2:
			data = append([]byte(fmt.Sprintf("%s:%d:", tag, i)), 0, 0xff, 0x80, 0, 0xc3, 0x28, '\n', byte(i))
		case s == raccoon.SerializeProtobuf:
			st, err := structpb.NewStruct(map[string]any{"tag": tag, "i": i, "ok": true})
			if err != nil {
				t.Fatal(err)
			}
			data = st
		default:
			data = map[string]any{"tag": tag, "i": i, "text": "héllo \"x\""}
		}
		out[i] = raccoon.Event{Type: eventType, Data: data}
	}
	return out
}

// serialized is what the events must be in Kafka.
func serialized(t *testing.T, evs []raccoon.Event, s raccoon.Serialization) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		b, err := raccoon.Serialize(e.Data, s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

func assertTopicHolds(t *testing.T, topic string, want []string, exact bool) {
	t.Helper()
	msgs := testserver.ReadTopic(t, topic, len(want), 30*time.Second)
	got := map[string]int{}
	for _, m := range msgs {
		got[string(m)]++
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Fatalf("topic %s lacks an event (%d bytes: %q); it holds %d messages", topic, len(w), w, len(msgs))
		}
		got[w]--
	}
	if exact {
		extra := 0
		for _, n := range got {
			extra += n
		}
		if extra != 0 {
			t.Fatalf("topic %s holds %d messages more than were sent", topic, extra)
		}
	}
}

type protocol string

func newClient(t *testing.T, ctx context.Context, srv *testserver.Server, proto protocol, opts ...raccoon.Option) *raccoon.Client {
	t.Helper()
	var c *raccoon.Client
	var err error
	switch proto {
	case "websocket":
		c, err = raccoon.NewWebSocket(ctx, srv.WSURL(), opts...)
	case "rest":
		c, err = raccoon.NewREST(srv.RESTURL(), opts...)
	case "grpc":
		c, err = raccoon.NewGRPC(srv.GRPCAddr(), opts...)
	}
	if err != nil {
		t.Fatalf("%s client: %v", proto, err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(cctx)
	})
	return c
}

// TestIntegrationEveryCombination: WebSocket and REST with both wire types and both
// serializations, gRPC with both serializations (10): every ack matches its
// guid, every event is in Kafka once, byte for byte.
func TestIntegrationEveryCombination(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	type combo struct {
		proto protocol
		wire  raccoon.WireType
		ser   raccoon.Serialization
	}
	var combos []combo
	for _, p := range []protocol{"websocket", "rest"} {
		for _, w := range []raccoon.WireType{raccoon.WireProtobuf, raccoon.WireJSON} {
			for _, s := range []raccoon.Serialization{raccoon.SerializeProtobuf, raccoon.SerializeJSON} {
				combos = append(combos, combo{p, w, s})
			}
		}
	}
	combos = append(combos, combo{"grpc", raccoon.WireProtobuf, raccoon.SerializeProtobuf},
		combo{"grpc", raccoon.WireProtobuf, raccoon.SerializeJSON})
	for i, cb := range combos {
		name := fmt.Sprintf("%s-%s-wire-%s-data", cb.proto, cb.wire, cb.ser)
		t.Run(name, func(t *testing.T) {
			c := newClient(t, ctx, srv, cb.proto, raccoon.WithConnID(fmt.Sprintf("combo-%d", i)),
				raccoon.WithWireType(cb.wire), raccoon.WithSerialization(cb.ser))
			eventType := fmt.Sprintf("combo%d", i)
			var want []string
			var pendings []*raccoon.Pending
			var sent [][]raccoon.Event
			for b := 0; b < 3; b++ {
				evs := events(t, eventType, cb.ser, fmt.Sprintf("%s/%d", name, b), 4)
				p, err := c.Send(ctx, evs...)
				if err != nil {
					t.Fatal(err)
				}
				pendings = append(pendings, p)
				sent = append(sent, evs)
				want = append(want, serialized(t, evs, cb.ser)...)
			}
			for _, p := range pendings {
				ack, err := p.Wait(ctx)
				if err != nil {
					t.Fatalf("send %s: %v", p.ReqGUID, err)
				}
				if !ack.OK() || ack.ReqGUID != p.ReqGUID || ack.Attempts != 1 {
					t.Fatalf("ack %+v for %s", ack, p.ReqGUID)
				}
			}
			assertTopicHolds(t, srv.Topic(eventType), want, true)
		})
	}
}

// TestIntegrationWebSocketServerRestart: the server restarted under a WebSocket client
// that keeps sending; it reconnects, re-sends what was not acked, and every
// send ends acked with its events in Kafka.
func TestIntegrationWebSocketServerRestart(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var disconnects, reconnects atomic.Int32
	c := newClient(t, ctx, srv, "websocket", raccoon.WithConnID("restart-1"),
		raccoon.WithRetryPolicy(fastRetry()), raccoon.WithSerialization(raccoon.SerializeJSON),
		raccoon.WithDisconnectHandler(func(error) { disconnects.Add(1) }),
		raccoon.WithReconnectHandler(func() { reconnects.Add(1) }))
	const batches = 60
	var mu sync.Mutex
	var pendings []*raccoon.Pending
	var want []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := 0; b < batches; b++ {
			evs := events(t, "restart", raccoon.SerializeJSON, fmt.Sprintf("restart/%d", b), 3)
			p, err := c.Send(ctx, evs...)
			if err != nil {
				t.Errorf("send %d: %v", b, err)
				return
			}
			mu.Lock()
			pendings = append(pendings, p)
			want = append(want, serialized(t, evs, raccoon.SerializeJSON)...)
			mu.Unlock()
			time.Sleep(40 * time.Millisecond)
		}
	}()
	time.Sleep(600 * time.Millisecond)
	srv.Restart()
	<-done
	retried := 0
	for _, p := range pendings {
		ack, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("send %s: %v", p.ReqGUID, err)
		}
		if !ack.OK() || ack.ReqGUID != p.ReqGUID {
			t.Fatalf("ack %+v for %s", ack, p.ReqGUID)
		}
		if ack.Attempts > 1 {
			retried++
		}
	}
	if disconnects.Load() < 1 || reconnects.Load() < 1 {
		t.Fatalf("%d disconnects, %d reconnects: the restart was not seen", disconnects.Load(), reconnects.Load())
	}
	t.Logf("%d sends, %d re-sent after the restart", len(pendings), retried)
	// At least once: a batch whose ack was lost may be there twice.
	assertTopicHolds(t, srv.Topic("restart"), want, false)
}

// recordingProxy forwards to the real server's REST endpoint, answering
// the first `fail` requests itself with `status`; it records the req_guid of
// every request it saw. With `corrupt` it cuts the last bytes off the JSON
// body it forwards, so that the real server answers 400 of its own.
type recordingProxy struct {
	mu      sync.Mutex
	guids   []string
	fail    int
	status  int
	corrupt bool
}

func (rp *recordingProxy) handler(t *testing.T, target string) http.Handler {
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req pb.SendEventRequest
		var guid string
		if r.Header.Get("Content-Type") == "application/json" {
			var j struct {
				ReqGUID string `json:"req_guid"`
			}
			if err := json.Unmarshal(body, &j); err != nil {
				t.Errorf("proxy: undecodable request: %v", err)
			}
			guid = j.ReqGUID
		} else {
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Errorf("proxy: undecodable request: %v", err)
			}
			guid = req.ReqGuid
		}
		rp.mu.Lock()
		rp.guids = append(rp.guids, guid)
		failing := len(rp.guids) <= rp.fail
		rp.mu.Unlock()
		if failing {
			w.WriteHeader(rp.status)
			return
		}
		if rp.corrupt {
			body = body[:len(body)-5]
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	})
}

// TestIntegrationREST503Then200: the retry succeeds, with the same req_guid.
func TestIntegrationREST503Then200(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rp := &recordingProxy{fail: 1, status: http.StatusServiceUnavailable}
	front := httptest.NewServer(rp.handler(t, srv.HTTPURL()))
	defer front.Close()
	c, err := raccoon.NewREST(front.URL+"/api/v1/events", raccoon.WithRetryPolicy(fastRetry()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	evs := events(t, "retry503", raccoon.SerializeProtobuf, "503", 3)
	p, err := c.Send(ctx, evs...)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ack.OK() || ack.Attempts != 2 || ack.ReqGUID != p.ReqGUID {
		t.Fatalf("ack %+v", ack)
	}
	if len(rp.guids) != 2 || rp.guids[0] != p.ReqGUID || rp.guids[1] != p.ReqGUID {
		t.Fatalf("the proxy saw req_guids %v, want %s twice", rp.guids, p.ReqGUID)
	}
	assertTopicHolds(t, srv.Topic("retry503"), serialized(t, evs, raccoon.SerializeProtobuf), true)
}

// TestIntegrationBadRequestIsNotRetried: the real server answers a JSON body cut short
// (by the proxy) with 400 / CODE_BAD_REQUEST; one attempt, a clear error.
func TestIntegrationBadRequestIsNotRetried(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rp := &recordingProxy{corrupt: true}
	front := httptest.NewServer(rp.handler(t, srv.HTTPURL()))
	defer front.Close()
	c, err := raccoon.NewREST(front.URL+"/api/v1/events", raccoon.WithRetryPolicy(fastRetry()),
		raccoon.WithWireType(raccoon.WireJSON), raccoon.WithSerialization(raccoon.SerializeJSON))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	p, err := c.Send(ctx, events(t, "bad", raccoon.SerializeJSON, "400", 2)...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Wait(ctx)
	var e *raccoon.Error
	if !errors.As(err, &e) || !errors.Is(err, raccoon.ErrBadRequest) {
		t.Fatalf("got %v, want a bad request error", err)
	}
	if e.HTTPStatus != 400 || e.Code != raccoon.CodeBadRequest || e.Attempts != 1 || e.Reason == "" || e.ReqGUID != p.ReqGUID {
		t.Fatalf("error %+v", e)
	}
	if len(rp.guids) != 1 || rp.guids[0] != p.ReqGUID {
		t.Fatalf("the server saw %v, want %s once", rp.guids, p.ReqGUID)
	}
	t.Log(err)
}

// TestIntegrationWebSocketRefusal: a second connection with the same id is refused at
// the upgrade; the client says so and does not reconnect.
func TestIntegrationWebSocketRefusal(t *testing.T) {
	srv := testserver.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first := newClient(t, ctx, srv, "websocket", raccoon.WithConnID("twin"))
	if _, err := first.SendWait(ctx, raccoon.Event{Type: "twin", Data: []byte("one")}); err != nil {
		t.Fatal(err)
	}
	var reconnects atomic.Int32
	second := newClient(t, ctx, srv, "websocket", raccoon.WithConnID("twin"),
		raccoon.WithReconnectHandler(func() { reconnects.Add(1) }))
	_, err := second.SendWait(ctx, raccoon.Event{Type: "twin", Data: []byte("two")})
	var e *raccoon.Error
	if !errors.As(err, &e) || !errors.Is(err, raccoon.ErrRefused) || e.Code != raccoon.CodeMaxUserLimitReached {
		t.Fatalf("got %v, want a refusal with CODE_MAX_USER_LIMIT_REACHED", err)
	}
	t.Log(err)
	_, err = second.SendWait(ctx, raccoon.Event{Type: "twin", Data: []byte("three")})
	if !errors.Is(err, raccoon.ErrRefused) {
		t.Fatalf("a later send: %v, want the refusal", err)
	}
	if _, err := first.SendWait(ctx, raccoon.Event{Type: "twin", Data: []byte("four")}); err != nil {
		t.Fatalf("the first client after the refusal: %v", err)
	}
	if reconnects.Load() != 0 {
		t.Fatalf("a refused client reconnected %d times", reconnects.Load())
	}
	msgs := testserver.ReadTopic(t, srv.Topic("twin"), 2, 30*time.Second)
	var got []string
	for _, m := range msgs {
		got = append(got, string(m))
	}
	sort.Strings(got)
	if fmt.Sprint(got) != "[four one]" {
		t.Fatalf("topic holds %q", got)
	}
}
