package raccoon

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// RetryPolicy is how failed attempts are retried: capped exponential
// backoff with full jitter, a maximum number of attempts and a retry budget
// shared by every send of one client (clients/README.md, section 4).
type RetryPolicy struct {
	// MaxAttempts counts the first attempt: 1 disables retries.
	MaxAttempts int
	// Before attempt n (n >= 2) the client sleeps a uniformly random time in
	// [0, min(MaxBackoff, InitialBackoff * Multiplier^(n-2))].
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	// The retry budget: a token bucket of BudgetCapacity tokens, full at
	// start; a retry takes RetryCost (TimeoutCost after a timed-out attempt);
	// a successful send puts one token back. 0 capacity disables the budget.
	BudgetCapacity int
	RetryCost      int
	TimeoutCost    int
}

// DefaultRetryPolicy is the policy of a client made without WithRetryPolicy.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:    5,
		InitialBackoff: 100 * time.Millisecond,
		MaxBackoff:     5 * time.Second,
		Multiplier:     2,
		BudgetCapacity: 100,
		RetryCost:      5,
		TimeoutCost:    10,
	}
}

// BackoffCap is the upper bound of the sleep before attempt n (n >= 2).
func (p RetryPolicy) BackoffCap(attempt int) time.Duration {
	if attempt < 2 {
		return 0
	}
	backoff := float64(p.InitialBackoff) * math.Pow(p.Multiplier, float64(attempt-2))
	if backoff > float64(p.MaxBackoff) || math.IsInf(backoff, 0) || math.IsNaN(backoff) {
		return p.MaxBackoff
	}
	return time.Duration(backoff)
}

// Backoff draws the sleep before attempt n with full jitter; random returns
// a number in [0, 1).
func (p RetryPolicy) Backoff(attempt int, random func() float64) time.Duration {
	return time.Duration(random() * float64(p.BackoffCap(attempt)))
}

// budget is the retry token bucket.
type budget struct {
	mu       sync.Mutex
	tokens   int
	capacity int
}

func newBudget(capacity int) *budget { return &budget{tokens: capacity, capacity: capacity} }

// take reports whether a retry costing cost tokens may go.
func (b *budget) take(cost int) bool {
	if b.capacity <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < cost {
		return false
	}
	b.tokens -= cost
	return true
}

func (b *budget) refund() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < b.capacity {
		b.tokens++
	}
}

func (b *budget) available() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens
}

func jitter() float64 { return rand.Float64() }

// RetryableHTTPStatus: 429 and every 5xx.
func RetryableHTTPStatus(status int) bool {
	return status == 429 || (status >= 500 && status <= 599)
}

// RetryableGRPCCode: UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED.
func RetryableGRPCCode(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
		return true
	}
	return false
}

// RetryableAck: an ack with STATUS_ERROR and CODE_INTERNAL_ERROR (the
// broker failed; a later attempt may succeed).
func RetryableAck(a *Ack) bool {
	return a.Status == StatusError && a.Code == CodeInternalError
}

// ackError turns a failed ack into the error it means.
func ackError(a *Ack) *Error {
	kind := KindBadRequest
	if RetryableAck(a) {
		kind = KindServer
	}
	return &Error{Kind: kind, ReqGUID: a.ReqGUID, Code: a.Code, Reason: a.Reason}
}

// retryable reports whether the failure of an attempt may be retried.
func retryable(e *Error) bool {
	return e.Kind == KindServer || e.Kind == KindTransport
}
