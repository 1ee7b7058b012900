package raccoon

// Unit tests of the clients against fake servers on 127.0.0.1: retry
// decisions, the same req_guid on every attempt, ack matching out of order,
// reconnect and re-send, refusal, timeouts, close.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/raccoon-cpp/raccoon/clients/go/internal/pb"
)

func quick() RetryPolicy {
	p := DefaultRetryPolicy()
	p.InitialBackoff = time.Millisecond
	p.MaxBackoff = 5 * time.Millisecond
	return p
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func okAck(guid string) *pb.SendEventResponse {
	return &pb.SendEventResponse{Status: pb.Status_STATUS_SUCCESS, Code: pb.Code_CODE_OK, SentTime: 1,
		Data: map[string]string{"req_guid": guid}}
}

func errAck(guid string, code pb.Code) *pb.SendEventResponse {
	return &pb.SendEventResponse{Status: pb.Status_STATUS_ERROR, Code: code, Reason: "because",
		Data: map[string]string{"req_guid": guid}}
}

// fakeREST answers request n with statuses[n] (the last one repeats) and
// records each request's req_guid and headers.
type fakeREST struct {
	mu       sync.Mutex
	statuses []int
	guids    []string
	headers  []http.Header
}

func (f *fakeREST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req pb.SendEventRequest
	_ = proto.Unmarshal(body, &req)
	f.mu.Lock()
	n := len(f.guids)
	f.guids = append(f.guids, req.ReqGuid)
	f.headers = append(f.headers, r.Header.Clone())
	st := f.statuses[min(n, len(f.statuses)-1)]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/proto")
	w.WriteHeader(st)
	var resp *pb.SendEventResponse
	switch {
	case st == 200:
		resp = okAck(req.ReqGuid)
	case st >= 500:
		resp = errAck(req.ReqGuid, pb.Code_CODE_INTERNAL_ERROR)
	default:
		resp = errAck(req.ReqGuid, pb.Code_CODE_BAD_REQUEST)
	}
	b, _ := proto.Marshal(resp)
	_, _ = w.Write(b)
}

func restClient(t *testing.T, f http.Handler, opts ...Option) (*Client, *httptest.Server) {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := NewREST(srv.URL+"/api/v1/events", append([]Option{WithRetryPolicy(quick())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, srv
}

func TestRESTRetriesWithTheSameGUID(t *testing.T) {
	f := &fakeREST{statuses: []int{503, 429, 500, 200}}
	var acked atomic.Int32
	c, _ := restClient(t, f, WithConnID("u1"), WithConnGroup("g1"), WithHeader("X-Extra", "e"),
		WithAckHandler(func(string, *Ack, error) { acked.Add(1) }))
	ack, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if ack.Attempts != 4 || len(f.guids) != 4 {
		t.Fatalf("attempts %d, requests %d", ack.Attempts, len(f.guids))
	}
	for _, g := range f.guids {
		if g != ack.ReqGUID {
			t.Fatalf("req_guids %v", f.guids)
		}
	}
	h := f.headers[0]
	if h.Get("X-User-ID") != "u1" || h.Get("X-User-Group") != "g1" || h.Get("X-Extra") != "e" ||
		h.Get("Content-Type") != "application/proto" {
		t.Fatalf("headers %v", h)
	}
	if acked.Load() != 1 {
		t.Fatalf("ack handler called %d times", acked.Load())
	}
}

func TestRESTDoesNotRetryA4xx(t *testing.T) {
	for _, st := range []int{400, 413, 404} {
		f := &fakeREST{statuses: []int{st, 200}}
		c, _ := restClient(t, f)
		_, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindBadRequest || e.HTTPStatus != st || e.Attempts != 1 || len(f.guids) != 1 {
			t.Fatalf("HTTP %d: %v (%d requests)", st, err, len(f.guids))
		}
	}
}

func TestRESTGivesUpAfterMaxAttempts(t *testing.T) {
	f := &fakeREST{statuses: []int{503}}
	p := quick()
	p.MaxAttempts = 3
	c, _ := restClient(t, f, WithRetryPolicy(p))
	_, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindServer || e.Attempts != 3 || e.HTTPStatus != 503 ||
		e.Code != CodeInternalError || len(f.guids) != 3 {
		t.Fatalf("%v after %d requests", err, len(f.guids))
	}
}

func TestRetryBudgetStopsRetries(t *testing.T) {
	f := &fakeREST{statuses: []int{503}}
	p := quick()
	p.MaxAttempts = 100
	p.BudgetCapacity = 12
	p.RetryCost = 5
	c, _ := restClient(t, f, WithRetryPolicy(p))
	_, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	var e *Error
	if !errors.As(err, &e) || !e.BudgetExhausted || e.Attempts != 3 {
		t.Fatalf("%v", err)
	}
	// The bucket is empty: the next send gets one attempt only.
	_, err = c.SendWait(testContext(t), Event{Type: "t", Data: []byte("y")})
	if !errors.As(err, &e) || !e.BudgetExhausted || e.Attempts != 1 {
		t.Fatalf("second send: %v", err)
	}
}

func TestRESTTransportErrorIsRetried(t *testing.T) {
	// A port nobody listens on: every attempt is refused.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	p := quick()
	p.MaxAttempts = 3
	c, err := NewREST("http://"+addr+"/api/v1/events", WithRetryPolicy(p))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	_, err = c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindTransport || e.Attempts != 3 {
		t.Fatalf("%v", err)
	}
}

func TestSendTimeout(t *testing.T) {
	// The server notices a client's disconnect only once the body is read.
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		<-r.Context().Done()
	})
	c, _ := restClient(t, hang, WithSendTimeout(200*time.Millisecond), WithAttemptTimeout(time.Hour))
	started := time.Now()
	_, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	if !errors.Is(err, ErrTimeout) || time.Since(started) > 5*time.Second {
		t.Fatalf("%v after %v", err, time.Since(started))
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	var n atomic.Int32
	slowThenOK := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req pb.SendEventRequest
		_ = proto.Unmarshal(body, &req)
		if n.Add(1) == 1 {
			<-r.Context().Done()
			return
		}
		b, _ := proto.Marshal(okAck(req.ReqGuid))
		_, _ = w.Write(b)
	})
	c, _ := restClient(t, slowThenOK, WithAttemptTimeout(100*time.Millisecond))
	ack, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	if err != nil || ack.Attempts != 2 {
		t.Fatalf("%v %+v", err, ack)
	}
}

func TestCloseRefusesNewSends(t *testing.T) {
	c, _ := restClient(t, &fakeREST{statuses: []int{200}})
	if err := c.Close(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(testContext(t), Event{Type: "t", Data: []byte("x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("%v", err)
	}
}

func TestEncodingErrorIsImmediate(t *testing.T) {
	c, _ := restClient(t, &fakeREST{statuses: []int{200}})
	if _, err := c.Send(testContext(t), Event{Type: "t", Data: 3}); !errors.Is(err, ErrEncoding) {
		t.Fatalf("%v", err)
	}
}

// fakeGRPC answers call n with codes[n] (OK: a success ack; the last repeats).
type fakeGRPC struct {
	pb.UnimplementedEventServiceServer
	mu    sync.Mutex
	codes []codes.Code
	guids []string
	md    []metadata.MD
}

func (f *fakeGRPC) SendEvent(ctx context.Context, req *pb.SendEventRequest) (*pb.SendEventResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	n := len(f.guids)
	f.guids = append(f.guids, req.ReqGuid)
	f.md = append(f.md, md)
	code := f.codes[min(n, len(f.codes)-1)]
	f.mu.Unlock()
	if code != codes.OK {
		return nil, status.Error(code, "fake says "+code.String())
	}
	return okAck(req.ReqGuid), nil
}

func grpcClient(t *testing.T, f *fakeGRPC, opts ...Option) *Client {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	pb.RegisterEventServiceServer(s, f)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	c, err := NewGRPC(l.Addr().String(), append([]Option{WithRetryPolicy(quick())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestGRPCRetriesRetryableCodes(t *testing.T) {
	f := &fakeGRPC{codes: []codes.Code{codes.Unavailable, codes.ResourceExhausted, codes.OK}}
	c := grpcClient(t, f, WithConnID("u2"))
	ack, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	if err != nil || ack.Attempts != 3 {
		t.Fatalf("%v %+v", err, ack)
	}
	if f.guids[0] != ack.ReqGUID || f.guids[1] != ack.ReqGUID || f.guids[2] != ack.ReqGUID {
		t.Fatalf("guids %v", f.guids)
	}
	if got := f.md[0].Get("x-user-id"); len(got) != 1 || got[0] != "u2" {
		t.Fatalf("metadata %v", f.md[0])
	}
}

func TestGRPCDoesNotRetryInvalidArgument(t *testing.T) {
	f := &fakeGRPC{codes: []codes.Code{codes.InvalidArgument, codes.OK}}
	c := grpcClient(t, f)
	_, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindBadRequest || e.GRPCCode != codes.InvalidArgument || len(f.guids) != 1 {
		t.Fatalf("%v", err)
	}
}

func TestGRPCRefusesJSONWire(t *testing.T) {
	if _, err := NewGRPC("127.0.0.1:1", WithWireType(WireJSON)); !errors.Is(err, ErrEncoding) {
		t.Fatalf("%v", err)
	}
}

// fakeWS runs a WebSocket server whose behaviour per connection is handle.
func fakeWS(t *testing.T, handle func(conn int, c *websocket.Conn)) string {
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-User-ID") == "" {
			http.Error(w, "missing header X-User-ID", http.StatusBadRequest)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		handle(int(conns.Add(1)), c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/events"
}

func readRequest(ctx context.Context, c *websocket.Conn) (*pb.SendEventRequest, websocket.MessageType, error) {
	typ, data, err := c.Read(ctx)
	if err != nil {
		return nil, typ, err
	}
	var req pb.SendEventRequest
	if typ == websocket.MessageText {
		r, err := decodeJSONRequest(data)
		return r, typ, err
	}
	return &req, typ, proto.Unmarshal(data, &req)
}

func writeAck(ctx context.Context, c *websocket.Conn, resp *pb.SendEventResponse) error {
	b, _ := proto.Marshal(resp)
	return c.Write(ctx, websocket.MessageBinary, b)
}

func wsClient(t *testing.T, url string, opts ...Option) *Client {
	c, err := NewWebSocket(testContext(t), url, append([]Option{WithConnID("u"), WithRetryPolicy(quick())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestWebSocketMatchesAcksOutOfOrder(t *testing.T) {
	url := fakeWS(t, func(_ int, c *websocket.Conn) {
		ctx := context.Background()
		var guids []string
		for i := 0; i < 5; i++ {
			req, typ, err := readRequest(ctx, c)
			if err != nil || typ != websocket.MessageBinary {
				return
			}
			guids = append(guids, req.ReqGuid)
		}
		for i := len(guids) - 1; i >= 0; i-- {
			_ = writeAck(ctx, c, okAck(guids[i]))
		}
		_ = writeAck(ctx, c, okAck("nobody-sent-this"))
		_, _, _ = c.Read(ctx)
	})
	var order []string
	var mu sync.Mutex
	c := wsClient(t, url, WithAckHandler(func(g string, a *Ack, err error) {
		mu.Lock()
		order = append(order, g)
		mu.Unlock()
	}))
	var ps []*Pending
	for i := 0; i < 5; i++ {
		p, err := c.Send(testContext(t), Event{Type: "t", Data: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		ack, err := p.Wait(testContext(t))
		if err != nil || ack.ReqGUID != p.ReqGUID {
			t.Fatalf("%v %+v", err, ack)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 5 || order[0] != ps[4].ReqGUID || order[4] != ps[0].ReqGUID {
		t.Fatalf("acks delivered in order %v", order)
	}
}

func TestWebSocketRetriesAnInternalErrorAck(t *testing.T) {
	var seen []string
	url := fakeWS(t, func(_ int, c *websocket.Conn) {
		ctx := context.Background()
		for i := 0; ; i++ {
			req, _, err := readRequest(ctx, c)
			if err != nil {
				return
			}
			seen = append(seen, req.ReqGuid)
			ack := okAck(req.ReqGuid)
			if i == 0 {
				ack = errAck(req.ReqGuid, pb.Code_CODE_INTERNAL_ERROR)
			}
			_ = writeAck(ctx, c, ack)
		}
	})
	c := wsClient(t, url)
	ack, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	if err != nil || ack.Attempts != 2 || len(seen) != 2 || seen[0] != seen[1] || seen[0] != ack.ReqGUID {
		t.Fatalf("%v %+v %v", err, ack, seen)
	}
	// A bad request is final.
	url = fakeWS(t, func(_ int, c *websocket.Conn) {
		for {
			req, _, err := readRequest(context.Background(), c)
			if err != nil {
				return
			}
			_ = writeAck(context.Background(), c, errAck(req.ReqGuid, pb.Code_CODE_BAD_REQUEST))
		}
	})
	c = wsClient(t, url)
	_, err = c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindBadRequest || e.Attempts != 1 || e.Reason != "because" {
		t.Fatalf("%v", err)
	}
}

func TestWebSocketReconnectsAndResendsUnacked(t *testing.T) {
	var mu sync.Mutex
	perConn := map[int][]string{}
	url := fakeWS(t, func(conn int, c *websocket.Conn) {
		ctx := context.Background()
		for {
			req, _, err := readRequest(ctx, c)
			if err != nil {
				return
			}
			mu.Lock()
			perConn[conn] = append(perConn[conn], req.ReqGuid)
			n := len(perConn[conn])
			mu.Unlock()
			if conn == 1 {
				if n == 1 {
					_ = writeAck(ctx, c, okAck(req.ReqGuid))
					continue
				}
				if n == 3 {
					// Drop the connection with two requests unacked.
					c.CloseNow()
					return
				}
				continue
			}
			_ = writeAck(ctx, c, okAck(req.ReqGuid))
		}
	})
	var disconnects, reconnects atomic.Int32
	c := wsClient(t, url, WithDisconnectHandler(func(error) { disconnects.Add(1) }),
		WithReconnectHandler(func() { reconnects.Add(1) }))
	var ps []*Pending
	for i := 0; i < 3; i++ {
		p, err := c.Send(testContext(t), Event{Type: "t", Data: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		if i == 0 {
			if _, err := p.Wait(testContext(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, p := range ps {
		ack, err := p.Wait(testContext(t))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		want := 1
		if i > 0 {
			want = 2
		}
		if ack.Attempts != want {
			t.Fatalf("send %d: %d attempts, want %d", i, ack.Attempts, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(perConn[2]) != 2 || perConn[2][0] != ps[1].ReqGUID || perConn[2][1] != ps[2].ReqGUID {
		t.Fatalf("re-sent on the new connection: %v", perConn[2])
	}
	if disconnects.Load() != 1 || reconnects.Load() != 1 {
		t.Fatalf("%d disconnects, %d reconnects", disconnects.Load(), reconnects.Load())
	}
}

func TestWebSocketRefusal(t *testing.T) {
	var conns atomic.Int32
	url := fakeWS(t, func(_ int, c *websocket.Conn) {
		conns.Add(1)
		// As the server: one binary SendEventResponse without data, then 1008.
		b, _ := proto.Marshal(&pb.SendEventResponse{Status: pb.Status_STATUS_ERROR,
			Code: pb.Code_CODE_MAX_CONNECTION_LIMIT_REACHED, Reason: "server full"})
		_ = c.Write(context.Background(), websocket.MessageBinary, b)
		_ = c.Close(websocket.StatusPolicyViolation, "")
	})
	c := wsClient(t, url)
	_, err := c.SendWait(testContext(t), Event{Type: "t", Data: []byte("x")})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRefused || e.Code != CodeMaxConnectionLimitReached || e.Reason != "server full" {
		t.Fatalf("%v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if conns.Load() != 1 {
		t.Fatalf("%d connections: a refused client must not reconnect", conns.Load())
	}
}

func TestWebSocketHTTPRefusal(t *testing.T) {
	url := fakeWS(t, func(int, *websocket.Conn) {})
	_, err := NewWebSocket(testContext(t), url) // no connection id
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRefused || e.HTTPStatus != 400 {
		t.Fatalf("%v", err)
	}
}

func TestWebSocketJSONWireUsesTextFrames(t *testing.T) {
	url := fakeWS(t, func(_ int, c *websocket.Conn) {
		req, typ, err := readRequest(context.Background(), c)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			return
		}
		ack := `{"status":1,"code":1,"sent_time":3,"data":{"req_guid":"` + req.ReqGuid + `"}}`
		_ = c.Write(context.Background(), websocket.MessageText, []byte(ack))
		_, _, _ = c.Read(context.Background())
	})
	c := wsClient(t, url, WithWireType(WireJSON), WithSerialization(SerializeJSON))
	ack, err := c.SendWait(testContext(t), Event{Type: "t", Data: map[string]int{"a": 1}})
	if err != nil || !ack.OK() || ack.SentTime != 3 {
		t.Fatalf("%v %+v", err, ack)
	}
}

func TestCloseWaitsThenFailsPending(t *testing.T) {
	url := fakeWS(t, func(_ int, c *websocket.Conn) {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	})
	c := wsClient(t, url)
	p, err := c.Send(testContext(t), Event{Type: "t", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 sends still pending") {
		t.Fatalf("close: %v", err)
	}
	if _, err := p.Wait(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("pending after close: %v", err)
	}
}

// An ack that comes back while its request is still being written ends the
// send; that must not cut the connection (a write's context used to be the
// send's, and coder/websocket closes a connection whose write is cancelled).
func TestWebSocketFastAcksKeepTheConnection(t *testing.T) {
	url := fakeWS(t, func(_ int, c *websocket.Conn) {
		for {
			req, _, err := readRequest(context.Background(), c)
			if err != nil {
				return
			}
			if err := writeAck(context.Background(), c, okAck(req.ReqGuid)); err != nil {
				return
			}
		}
	})
	var disconnects atomic.Int32
	c := wsClient(t, url, WithDisconnectHandler(func(error) { disconnects.Add(1) }))
	ctx := testContext(t)
	payload := make([]byte, 16<<10) // large writes take long enough to race their ack
	var ps []*Pending
	for i := 0; i < 400; i++ {
		p, err := c.Send(ctx, Event{Type: "t", Data: payload})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		ack, err := p.Wait(ctx)
		if err != nil || ack.Attempts != 1 {
			t.Fatalf("%v %+v", err, ack)
		}
	}
	if n := disconnects.Load(); n != 0 {
		t.Fatalf("the connection dropped %d times", n)
	}
}

// A client whose server went away closes at once, without waiting out its
// reconnect back-off, failing what is pending with ErrClosed.
func TestCloseWhileReconnectingIsQuick(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_, _, _ = c.Read(context.Background())
		_ = c.Close(websocket.StatusInternalError, "")
	}))
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/events"
	slow := quick()
	slow.InitialBackoff, slow.MaxBackoff = 5*time.Second, 5*time.Second
	c, err := NewWebSocket(testContext(t), url, WithConnID("u"), WithRetryPolicy(slow))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Send(testContext(t), Event{Type: "t", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	srv.Close()
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	started := time.Now()
	_ = c.Close(ctx)
	if took := time.Since(started); took > 2*time.Second {
		t.Fatalf("close took %v", took)
	}
	if _, err := p.Wait(testContext(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("pending after close: %v", err)
	}
}
