package raccoon

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"
)

// Option configures a client (functional options, as grpc-go and nats.go).
type Option func(*options)

type options struct {
	headers         http.Header
	connID          string
	connIDHeader    string
	connGroup       string
	connGroupHeader string
	wire            WireType
	serialization   Serialization
	sendTimeout     time.Duration
	attemptTimeout  time.Duration
	dialTimeout     time.Duration
	retry           RetryPolicy
	logger          *slog.Logger
	onAck           func(reqGUID string, ack *Ack, err error)
	onDisconnect    func(err error)
	onReconnect     func()
	maxReconnects   int
	maxPending      int
	httpClient      *http.Client
	tlsConfig       *tls.Config
	grpcDialOptions []grpc.DialOption
}

func defaultOptions() options {
	return options{
		headers:         http.Header{},
		connIDHeader:    "X-User-ID",
		connGroupHeader: "X-User-Group",
		wire:            WireProtobuf,
		serialization:   SerializeProtobuf,
		sendTimeout:     30 * time.Second,
		attemptTimeout:  10 * time.Second,
		dialTimeout:     10 * time.Second,
		retry:           DefaultRetryPolicy(),
		logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		maxReconnects:   60,
		maxPending:      10000,
	}
}

// WithHeader adds a request header (gRPC: metadata, lower-cased).
func WithHeader(name, value string) Option {
	return func(o *options) { o.headers.Add(name, value) }
}

// WithConnID sets the connection id, sent in the id header (X-User-ID, the
// server's SERVER_WEBSOCKET_CONN_ID_HEADER, unless WithConnIDHeader).
func WithConnID(id string) Option { return func(o *options) { o.connID = id } }

// WithConnIDHeader names the header that carries the connection id.
func WithConnIDHeader(name string) Option { return func(o *options) { o.connIDHeader = name } }

// WithConnGroup sets the connection group, sent in the group header
// (X-User-Group unless WithConnGroupHeader).
func WithConnGroup(group string) Option { return func(o *options) { o.connGroup = group } }

// WithConnGroupHeader names the header that carries the connection group.
func WithConnGroupHeader(name string) Option {
	return func(o *options) { o.connGroupHeader = name }
}

// WithWireType sets how requests and acks travel (default WireProtobuf).
func WithWireType(w WireType) Option { return func(o *options) { o.wire = w } }

// WithSerialization sets how event data is serialized (default SerializeProtobuf).
func WithSerialization(s Serialization) Option { return func(o *options) { o.serialization = s } }

// WithSendTimeout bounds one Send, every attempt and backoff included
// (default 30 s); a sooner context deadline wins.
func WithSendTimeout(d time.Duration) Option { return func(o *options) { o.sendTimeout = d } }

// WithAttemptTimeout bounds one attempt: a REST request, a gRPC call, a
// WebSocket wait for an ack (default 10 s).
func WithAttemptTimeout(d time.Duration) Option { return func(o *options) { o.attemptTimeout = d } }

// WithDialTimeout bounds one connection handshake (default 10 s).
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithRetryPolicy replaces DefaultRetryPolicy().
func WithRetryPolicy(p RetryPolicy) Option { return func(o *options) { o.retry = p } }

// WithLogger sets the logger (default: discards).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithAckHandler is called once for every finished send, with its ack or its
// final error, on a goroutine of the client: it must not block.
func WithAckHandler(f func(reqGUID string, ack *Ack, err error)) Option {
	return func(o *options) { o.onAck = f }
}

// WithDisconnectHandler is called when a WebSocket connection drops or is refused.
func WithDisconnectHandler(f func(err error)) Option { return func(o *options) { o.onDisconnect = f } }

// WithReconnectHandler is called when a WebSocket connection is made again.
func WithReconnectHandler(f func()) Option { return func(o *options) { o.onReconnect = f } }

// WithMaxReconnects bounds the WebSocket reconnect attempts in a row
// (default 60; 0 never reconnects; -1 without end).
func WithMaxReconnects(n int) Option { return func(o *options) { o.maxReconnects = n } }

// WithMaxPending bounds the sends not yet finished (default 10,000); past it
// Send fails at once.
func WithMaxPending(n int) Option { return func(o *options) { o.maxPending = n } }

// WithHTTPClient sets the REST client's *http.Client (its Timeout is not
// used: WithAttemptTimeout is).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithTLSConfig sets TLS for wss:// URLs and gRPC (gRPC is plaintext without it).
func WithTLSConfig(c *tls.Config) Option { return func(o *options) { o.tlsConfig = c } }

// WithGRPCDialOptions adds options to the gRPC client connection.
func WithGRPCDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.grpcDialOptions = append(o.grpcDialOptions, opts...) }
}

// requestHeaders is the headers with the connection id and group.
func (o *options) requestHeaders() http.Header {
	h := o.headers.Clone()
	if o.connID != "" {
		h.Set(o.connIDHeader, o.connID)
	}
	if o.connGroup != "" && o.connGroupHeader != "" {
		h.Set(o.connGroupHeader, o.connGroup)
	}
	return h
}
