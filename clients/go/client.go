package raccoon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// transport delivers requests for one protocol.
type transport interface {
	// start begins delivering p; the transport ends it with Client.finish.
	start(p *Pending)
	// forget drops what the transport holds for a finished p.
	forget(p *Pending)
	// close ends connections; pending sends were failed before.
	close()
}

// Client sends batches of events to one Raccoon server over one protocol.
// Its methods are safe for concurrent use.
type Client struct {
	opts      options
	budget    *budget
	transport transport

	mu          sync.Mutex
	outstanding map[*Pending]struct{}
	closed      bool
}

func newClient(opts []Option) *Client {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.retry.MaxAttempts < 1 {
		o.retry.MaxAttempts = 1
	}
	return &Client{opts: o, budget: newBudget(o.retry.BudgetCapacity), outstanding: map[*Pending]struct{}{}}
}

// Pending is one send in flight: its req_guid at once, its Ack or error when
// Done is closed.
type Pending struct {
	// ReqGUID is the request's req_guid, the same on every attempt.
	ReqGUID string

	client *Client
	req    *request
	ctx    context.Context // ends when the send times out or finishes
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	attempts int
	ack      *Ack
	err      error
}

// Done is closed when the send finished.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Wait blocks until the send finished or ctx ends; it returns the ack of a
// batch the server took, or the send's *Error (or ctx's error: the send
// itself goes on).
func (p *Pending) Wait(ctx context.Context) (*Ack, error) {
	select {
	case <-p.done:
		return p.ack, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Attempts is how many times the request was sent so far.
func (p *Pending) Attempts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts
}

func (p *Pending) undoAttempt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts--
}

func (p *Pending) addAttempt() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts++
	return p.attempts
}

// Send sends one batch and returns at once; ctx bounds the whole send with
// the send timeout. The req_guid is a random UUID.
func (c *Client) Send(ctx context.Context, events ...Event) (*Pending, error) {
	return c.SendWithGUID(ctx, uuid.NewString(), events...)
}

// SendWithGUID is Send with the caller's req_guid.
func (c *Client) SendWithGUID(ctx context.Context, reqGUID string, events ...Event) (*Pending, error) {
	req, err := encodeRequest(reqGUID, time.Now(), events, c.opts.wire, c.opts.serialization)
	if err != nil {
		return nil, &Error{Kind: KindEncoding, ReqGUID: reqGUID, Err: err}
	}
	sendCtx, cancel := context.WithTimeout(ctx, c.opts.sendTimeout)
	p := &Pending{ReqGUID: reqGUID, client: c, req: req, ctx: sendCtx, cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return nil, &Error{Kind: KindClosed, ReqGUID: reqGUID}
	}
	if c.opts.maxPending > 0 && len(c.outstanding) >= c.opts.maxPending {
		c.mu.Unlock()
		cancel()
		return nil, &Error{Kind: KindTransport, ReqGUID: reqGUID,
			Err: fmt.Errorf("buffer full: %d sends pending", c.opts.maxPending)}
	}
	c.outstanding[p] = struct{}{}
	c.mu.Unlock()
	go func() {
		<-sendCtx.Done()
		c.finish(p, nil, c.timeoutError(p, nil))
	}()
	c.transport.start(p)
	return p, nil
}

// SendWait is Send followed by Wait.
func (c *Client) SendWait(ctx context.Context, events ...Event) (*Ack, error) {
	p, err := c.Send(ctx, events...)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

func (c *Client) timeoutError(p *Pending, last *Error) *Error {
	e := &Error{Kind: KindTimeout, ReqGUID: p.ReqGUID, Attempts: p.Attempts(), Err: p.ctx.Err()}
	if last != nil {
		e.Err = last
	}
	return e
}

// finish ends a send once: success with ack, or failure with err.
func (c *Client) finish(p *Pending, ack *Ack, err *Error) {
	p.once.Do(func() {
		p.mu.Lock()
		attempts := p.attempts
		p.mu.Unlock()
		if ack != nil {
			ack.Attempts = attempts
			p.ack = ack
			c.budget.refund()
		} else {
			if err.ReqGUID == "" {
				err.ReqGUID = p.ReqGUID
			}
			if err.Attempts == 0 {
				err.Attempts = attempts
			}
			p.err = err
		}
		close(p.done)
		p.cancel()
		c.mu.Lock()
		delete(c.outstanding, p)
		c.mu.Unlock()
		c.transport.forget(p)
		if c.opts.onAck != nil {
			c.opts.onAck(p.ReqGUID, p.ack, p.err)
		}
	})
}

// runAttempts is the retry loop of the request-response protocols (REST,
// gRPC): attempt until an ack, a non-retryable error, the last attempt, an
// empty budget or the end of the send.
func (c *Client) runAttempts(p *Pending, attempt func(ctx context.Context) (*Ack, *Error)) {
	policy := c.opts.retry
	for {
		n := p.addAttempt()
		actx, cancel := context.WithTimeout(p.ctx, c.opts.attemptTimeout)
		ack, e := attempt(actx)
		attemptTimedOut := errors.Is(actx.Err(), context.DeadlineExceeded) && p.ctx.Err() == nil
		cancel()
		if p.ctx.Err() != nil {
			c.finish(p, nil, c.timeoutError(p, e))
			return
		}
		if e == nil {
			if ack.OK() {
				c.finish(p, ack, nil)
				return
			}
			e = ackError(ack)
		}
		if attemptTimedOut && e.Kind != KindBadRequest {
			e.Kind = KindTransport
		}
		e.ReqGUID, e.Attempts = p.ReqGUID, n
		if !retryable(e) || n >= policy.MaxAttempts {
			c.finish(p, nil, e)
			return
		}
		cost := policy.RetryCost
		if attemptTimedOut {
			cost = policy.TimeoutCost
		}
		if !c.budget.take(cost) {
			e.BudgetExhausted = true
			c.finish(p, nil, e)
			return
		}
		wait := policy.Backoff(n+1, jitter)
		c.opts.logger.Debug("raccoon: retrying", "req_guid", p.ReqGUID, "attempt", n+1, "after", wait, "error", e)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			c.finish(p, nil, c.timeoutError(p, e))
			return
		}
	}
}

// Flush waits until every send made before it finished, or ctx ends.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	pending := make([]*Pending, 0, len(c.outstanding))
	for p := range c.outstanding {
		pending = append(pending, p)
	}
	c.mu.Unlock()
	for i, p := range pending {
		select {
		case <-p.done:
		case <-ctx.Done():
			left := 0
			for _, q := range pending[i:] {
				select {
				case <-q.done:
				default:
					left++
				}
			}
			return fmt.Errorf("raccoon: flush: %d sends still pending: %w", left, ctx.Err())
		}
	}
	return nil
}

// Close refuses new sends, flushes until ctx ends, fails what is still
// pending with ErrClosed and closes the connection.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	flushErr := c.Flush(ctx)
	c.mu.Lock()
	left := make([]*Pending, 0, len(c.outstanding))
	for p := range c.outstanding {
		left = append(left, p)
	}
	c.mu.Unlock()
	for _, p := range left {
		c.finish(p, nil, &Error{Kind: KindClosed, ReqGUID: p.ReqGUID})
	}
	c.transport.close()
	return flushErr
}

// PendingCount is how many sends have not finished.
func (c *Client) PendingCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.outstanding)
}
