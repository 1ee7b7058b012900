package raccoon

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
)

// ErrorKind says why a send failed (clients/README.md, section 6).
type ErrorKind int

const (
	// KindBadRequest: the server refused the request; it is never retried.
	KindBadRequest ErrorKind = iota + 1
	// KindServer: a retryable server failure left after the last attempt.
	KindServer
	// KindTransport: a connection failure left after the last attempt.
	KindTransport
	// KindRefused: the WebSocket was refused at the upgrade.
	KindRefused
	// KindTimeout: the send timeout or the caller's context ended the send.
	KindTimeout
	// KindClosed: the client was closed before the ack.
	KindClosed
	// KindEncoding: an event could not be serialized, or the options
	// cannot work together.
	KindEncoding
)

func (k ErrorKind) String() string {
	switch k {
	case KindBadRequest:
		return "bad request"
	case KindServer:
		return "server error"
	case KindTransport:
		return "transport error"
	case KindRefused:
		return "connection refused"
	case KindTimeout:
		return "timeout"
	case KindClosed:
		return "client closed"
	case KindEncoding:
		return "encoding error"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Sentinels for errors.Is: errors.Is(err, raccoon.ErrBadRequest) holds for
// every *Error of that kind.
var (
	ErrBadRequest = &Error{Kind: KindBadRequest}
	ErrServer     = &Error{Kind: KindServer}
	ErrTransport  = &Error{Kind: KindTransport}
	ErrRefused    = &Error{Kind: KindRefused}
	ErrTimeout    = &Error{Kind: KindTimeout}
	ErrClosed     = &Error{Kind: KindClosed}
	ErrEncoding   = &Error{Kind: KindEncoding}
)

// Error is the one error type of the package.
type Error struct {
	Kind     ErrorKind
	ReqGUID  string
	Attempts int
	// What the last attempt got, where it applies.
	HTTPStatus int
	GRPCCode   codes.Code
	Code       Code
	Reason     string
	// BudgetExhausted: a retry was due but the client's retry budget was empty.
	BudgetExhausted bool
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("raccoon: ")
	b.WriteString(e.Kind.String())
	if e.ReqGUID != "" {
		fmt.Fprintf(&b, " (req_guid %s", e.ReqGUID)
		if e.Attempts > 0 {
			fmt.Fprintf(&b, ", %d attempt", e.Attempts)
			if e.Attempts > 1 {
				b.WriteString("s")
			}
		}
		b.WriteString(")")
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	if e.GRPCCode != codes.OK {
		fmt.Fprintf(&b, ": gRPC %s", e.GRPCCode)
	}
	if e.Code != CodeUnspecified {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.BudgetExhausted {
		b.WriteString(" (retry budget exhausted)")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinels by kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.ReqGUID == "" && t.Err == nil && t.Attempts == 0
}

func (e *Error) clone() *Error {
	c := *e
	return &c
}
