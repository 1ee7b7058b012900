package raccoon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// NewWebSocket dials url (ws://host:port/api/v1/events) with the connection
// id and group headers, and keeps one connection open: sends are written in
// order and acks matched by req_guid as they come. After a drop it
// reconnects with backoff and re-sends every unacked request with its
// req_guid. A refusal at the upgrade (duplicate connection, server full)
// fails every pending and later send with ErrRefused.
func NewWebSocket(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, &Error{Kind: KindEncoding, Err: fmt.Errorf("WebSocket needs a ws:// or wss:// URL, got %q", rawURL)}
	}
	c := newClient(opts)
	t := &wsTransport{
		c: c, url: u.String(), header: c.opts.requestHeaders(),
		msgType:  websocket.MessageBinary,
		inflight: map[string]*wsSend{},
		closeCh:  make(chan struct{}),
		doneCh:   make(chan struct{}),
	}
	if c.opts.wire == WireJSON {
		t.msgType = websocket.MessageText
	}
	if c.opts.tlsConfig != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = c.opts.tlsConfig
		t.httpClient = &http.Client{Transport: tr}
	}
	c.transport = t
	conn, derr := t.dial(ctx)
	if derr != nil {
		return nil, derr
	}
	go t.manage(conn)
	return c, nil
}

type wsSend struct {
	p   *Pending
	seq uint64
	// gen is the connection generation the request was last written on; 0
	// when it is due for a (re-)send.
	gen   uint64
	timer *time.Timer
	last  *Error
}

type wsTransport struct {
	c          *Client
	url        string
	header     http.Header
	msgType    websocket.MessageType
	httpClient *http.Client

	// writeMu orders writes and (re-)send decisions: a request is written
	// once per connection, in send order.
	writeMu sync.Mutex

	mu       sync.Mutex
	conn     *websocket.Conn
	gen      uint64
	seq      uint64
	inflight map[string]*wsSend
	refused  *Error // the server refused us: no reconnect
	dead     *Error // reconnects ran out
	closing  bool

	closeOnce sync.Once
	closeCh   chan struct{}
	doneCh    chan struct{}
}

// dial opens one connection; a refusal is a KindRefused error.
func (t *wsTransport) dial(ctx context.Context) (*websocket.Conn, *Error) {
	dctx, cancel := context.WithTimeout(ctx, t.c.opts.dialTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, t.url, &websocket.DialOptions{HTTPHeader: t.header, HTTPClient: t.httpClient})
	if err != nil {
		e := &Error{Kind: KindTransport, Err: err}
		if resp != nil {
			e.HTTPStatus = resp.StatusCode
			if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 429 {
				e.Kind = KindRefused
			}
		}
		return nil, e
	}
	conn.SetReadLimit(maxAckBytes)
	return conn, nil
}

// manage runs the connection: read acks until it drops, reconnect with
// backoff, re-send, until the client closes, is refused, or reconnects run out.
func (t *wsTransport) manage(conn *websocket.Conn) {
	defer close(t.doneCh)
	policy := t.c.opts.retry
	for {
		t.attach(conn)
		err := t.readLoop(conn)
		_ = conn.CloseNow()
		t.mu.Lock()
		t.conn = nil
		stop := t.closing || t.refused != nil
		t.mu.Unlock()
		if t.c.opts.onDisconnect != nil {
			t.c.opts.onDisconnect(err)
		}
		if stop {
			return
		}
		t.c.opts.logger.Info("raccoon: WebSocket dropped; reconnecting", "error", err)
		conn = nil
		var last *Error
		for n := 1; t.c.opts.maxReconnects < 0 || n <= t.c.opts.maxReconnects; n++ {
			timer := time.NewTimer(policy.Backoff(n+1, jitter))
			select {
			case <-timer.C:
			case <-t.closeCh:
				timer.Stop()
				return
			}
			dctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-t.closeCh:
					cancel()
				case <-dctx.Done():
				}
			}()
			var derr *Error
			conn, derr = t.dial(dctx)
			cancel()
			if derr == nil {
				break
			}
			last = derr
			t.c.opts.logger.Debug("raccoon: reconnect failed", "attempt", n, "error", derr)
			if derr.Kind == KindRefused {
				t.failAll(derr, true)
				return
			}
		}
		if conn == nil {
			if last == nil {
				last = &Error{Kind: KindTransport, Err: fmt.Errorf("connection lost: %v", err)}
			}
			last.Err = fmt.Errorf("gave up reconnecting: %w", last.Err)
			t.failAll(last, false)
			return
		}
		if t.c.opts.onReconnect != nil {
			t.c.opts.onReconnect()
		}
	}
}

// failAll ends every unacked send with err and every later one too.
func (t *wsTransport) failAll(err *Error, refused bool) {
	t.mu.Lock()
	if refused {
		t.refused = err
	} else {
		t.dead = err
	}
	sends := make([]*wsSend, 0, len(t.inflight))
	for _, s := range t.inflight {
		sends = append(sends, s)
	}
	t.mu.Unlock()
	for _, s := range sends {
		t.c.finish(s.p, nil, err.clone())
	}
}

// attach makes conn the current connection and writes, in send order,
// every unacked request not yet written on it.
func (t *wsTransport) attach(conn *websocket.Conn) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.Lock()
	t.conn = conn
	t.gen++
	gen := t.gen
	due := make([]*wsSend, 0, len(t.inflight))
	for _, s := range t.inflight {
		if s.gen != gen {
			s.gen = 0
			due = append(due, s)
		}
	}
	t.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].seq < due[j].seq })
	for _, s := range due {
		t.write(s, conn, gen)
	}
}

func (t *wsTransport) start(p *Pending) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.Lock()
	if err := t.refused; err != nil {
		t.mu.Unlock()
		t.c.finish(p, nil, err.clone())
		return
	}
	if err := t.dead; err != nil {
		t.mu.Unlock()
		t.c.finish(p, nil, err.clone())
		return
	}
	t.seq++
	s := &wsSend{p: p, seq: t.seq}
	t.inflight[p.ReqGUID] = s
	conn, gen := t.conn, t.gen
	t.mu.Unlock()
	if conn != nil {
		t.write(s, conn, gen)
	}
}

// write sends s on conn (generation gen) as one more attempt; writeMu is held.
func (t *wsTransport) write(s *wsSend, conn *websocket.Conn, gen uint64) {
	p := s.p
	select {
	case <-p.done:
		return
	default:
	}
	policy := t.c.opts.retry
	if p.Attempts() >= policy.MaxAttempts {
		t.mu.Lock()
		last := s.last
		t.mu.Unlock()
		if last == nil {
			last = &Error{Kind: KindTransport, Err: errors.New("connection lost before the ack")}
		}
		t.c.finish(p, nil, last)
		return
	}
	// Counted and marked before the write: the ack may be read before Write
	// returns.
	p.addAttempt()
	t.mu.Lock()
	s.gen = gen
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(t.c.opts.attemptTimeout, func() { t.attemptTimedOut(s, gen) })
	t.mu.Unlock()
	// Not the send's context: the send ends when its ack comes, which may be
	// before Write returns, and coder/websocket closes a connection whose
	// write is cancelled.
	wctx, cancel := context.WithTimeout(context.Background(), t.c.opts.attemptTimeout)
	err := conn.Write(wctx, t.msgType, p.req.body)
	cancel()
	if err != nil {
		// The reader sees the broken connection and the next one re-sends.
		t.c.opts.logger.Debug("raccoon: write failed", "req_guid", p.ReqGUID, "error", err)
		p.undoAttempt()
		t.mu.Lock()
		s.gen = 0
		s.last = &Error{Kind: KindTransport, Err: err}
		t.mu.Unlock()
		_ = conn.CloseNow()
	}
}

func (t *wsTransport) attemptTimedOut(s *wsSend, gen uint64) {
	t.mu.Lock()
	current := t.inflight[s.p.ReqGUID] == s && s.gen == gen
	t.mu.Unlock()
	if current {
		t.retryLater(s, &Error{Kind: KindTransport, Err: fmt.Errorf("no ack within %v", t.c.opts.attemptTimeout)},
			t.c.opts.retry.TimeoutCost)
	}
}

// retryLater re-sends s after a backoff, if attempts and budget allow.
func (t *wsTransport) retryLater(s *wsSend, e *Error, cost int) {
	p := s.p
	policy := t.c.opts.retry
	n := p.Attempts()
	if n >= policy.MaxAttempts {
		t.c.finish(p, nil, e)
		return
	}
	if !t.c.budget.take(cost) {
		e.BudgetExhausted = true
		t.c.finish(p, nil, e)
		return
	}
	wait := policy.Backoff(n+1, jitter)
	t.mu.Lock()
	s.last = e
	s.gen = 0
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(wait, func() { t.resend(s) })
	t.mu.Unlock()
}

func (t *wsTransport) resend(s *wsSend) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.Lock()
	due := t.inflight[s.p.ReqGUID] == s && s.gen == 0
	conn, gen := t.conn, t.gen
	t.mu.Unlock()
	if due && conn != nil {
		t.write(s, conn, gen)
	}
}

// errRefusal marks the read loop's end on a refusal.
var errRefusal = errors.New("refused by the server")

func (t *wsTransport) readLoop(conn *websocket.Conn) error {
	for {
		typ, data, err := conn.Read(context.Background())
		if err != nil {
			return err
		}
		wire := WireProtobuf
		if typ == websocket.MessageText {
			wire = WireJSON
		}
		ack, err := decodeAck(data, wire)
		if err != nil {
			t.c.opts.logger.Warn("raccoon: undecodable message from the server", "error", err)
			continue
		}
		if ack.ReqGUID == "" && ack.Status == StatusError &&
			(ack.Code == CodeMaxUserLimitReached || ack.Code == CodeMaxConnectionLimitReached) {
			t.failAll(&Error{Kind: KindRefused, Code: ack.Code, Reason: ack.Reason}, true)
			return fmt.Errorf("%w: %s: %s", errRefusal, ack.Code, ack.Reason)
		}
		t.mu.Lock()
		s := t.inflight[ack.ReqGUID]
		t.mu.Unlock()
		if s == nil {
			t.c.opts.logger.Debug("raccoon: ack for no pending send", "req_guid", ack.ReqGUID)
			continue
		}
		if ack.OK() {
			t.c.finish(s.p, ack, nil)
			continue
		}
		e := ackError(ack)
		if !retryable(e) {
			t.c.finish(s.p, nil, e)
			continue
		}
		t.retryLater(s, e, t.c.opts.retry.RetryCost)
	}
}

func (t *wsTransport) forget(p *Pending) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.inflight[p.ReqGUID]; s != nil && s.p == p {
		delete(t.inflight, p.ReqGUID)
		if s.timer != nil {
			s.timer.Stop()
		}
	}
}

func (t *wsTransport) close() {
	t.mu.Lock()
	t.closing = true
	conn := t.conn
	t.mu.Unlock()
	t.closeOnce.Do(func() { close(t.closeCh) })
	if conn != nil {
		_ = conn.Close(websocket.StatusNormalClosure, "")
	}
	select {
	case <-t.doneCh:
	case <-time.After(10 * time.Second):
	}
}
