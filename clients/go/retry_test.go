package raccoon

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func TestBackoffCapGrowsAndCaps(t *testing.T) {
	p := DefaultRetryPolicy()
	want := map[int]time.Duration{
		1: 0, 2: 100 * time.Millisecond, 3: 200 * time.Millisecond, 4: 400 * time.Millisecond,
		7: 3200 * time.Millisecond, 8: 5 * time.Second, 50: 5 * time.Second, 5000: 5 * time.Second,
	}
	for attempt, w := range want {
		if got := p.BackoffCap(attempt); got != w {
			t.Errorf("cap before attempt %d: %v, want %v", attempt, got, w)
		}
	}
}

func TestBackoffIsFullJitter(t *testing.T) {
	p := DefaultRetryPolicy()
	if got := p.Backoff(4, func() float64 { return 0 }); got != 0 {
		t.Errorf("random 0: %v", got)
	}
	if got := p.Backoff(4, func() float64 { return 0.5 }); got != 200*time.Millisecond {
		t.Errorf("random 0.5: %v", got)
	}
	// The real source stays in [0, cap) and spreads over it.
	var low, high int
	for i := 0; i < 2000; i++ {
		d := p.Backoff(5, jitter)
		if d < 0 || d >= p.BackoffCap(5) {
			t.Fatalf("backoff %v outside [0, %v)", d, p.BackoffCap(5))
		}
		if d < p.BackoffCap(5)/4 {
			low++
		}
		if d > p.BackoffCap(5)*3/4 {
			high++
		}
	}
	if low < 300 || high < 300 {
		t.Errorf("not spread: %d in the lowest quarter, %d in the highest", low, high)
	}
}

func TestBudget(t *testing.T) {
	b := newBudget(12)
	if !b.take(5) || !b.take(5) || b.take(5) {
		t.Fatal("12 tokens pay for two retries of 5, not three")
	}
	for i := 0; i < 3; i++ {
		b.refund()
	}
	if b.available() != 5 || !b.take(5) {
		t.Fatalf("after three refunds: %d tokens", b.available())
	}
	for i := 0; i < 100; i++ {
		b.refund()
	}
	if b.available() != 12 {
		t.Fatalf("refunds past the capacity: %d", b.available())
	}
	unlimited := newBudget(0)
	for i := 0; i < 1000; i++ {
		if !unlimited.take(10) {
			t.Fatal("a zero-capacity budget is no budget")
		}
	}
}

func TestRetryDecisions(t *testing.T) {
	for status, want := range map[int]bool{200: false, 400: false, 401: false, 404: false, 413: false,
		429: true, 500: true, 502: true, 503: true, 504: true} {
		if RetryableHTTPStatus(status) != want {
			t.Errorf("HTTP %d retryable: %v", status, !want)
		}
	}
	for code, want := range map[codes.Code]bool{codes.Unavailable: true, codes.ResourceExhausted: true,
		codes.DeadlineExceeded: true, codes.InvalidArgument: false, codes.Internal: false,
		codes.Unimplemented: false, codes.PermissionDenied: false} {
		if RetryableGRPCCode(code) != want {
			t.Errorf("gRPC %v retryable: %v", code, !want)
		}
	}
	for code, want := range map[Code]bool{CodeInternalError: true, CodeBadRequest: false,
		CodeMaxUserLimitReached: false, CodeMaxConnectionLimitReached: false} {
		if RetryableAck(&Ack{Status: StatusError, Code: code}) != want {
			t.Errorf("ack %v retryable: %v", code, !want)
		}
		if retryable(ackError(&Ack{Status: StatusError, Code: code})) != want {
			t.Errorf("ack error %v retryable: %v", code, !want)
		}
	}
}
