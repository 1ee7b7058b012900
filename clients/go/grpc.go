package raccoon

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/raccoon-cpp/raccoon/clients/go/internal/pb"
)

// NewGRPC makes a client of raystack.raccoon.v1beta1.EventService at
// address (host:port). gRPC carries protobuf only: WithWireType(WireJSON)
// is refused.
func NewGRPC(address string, opts ...Option) (*Client, error) {
	c := newClient(opts)
	if c.opts.wire != WireProtobuf {
		return nil, &Error{Kind: KindEncoding, Err: fmt.Errorf("gRPC carries protobuf only, not wire type %v", c.opts.wire)}
	}
	creds := insecure.NewCredentials()
	if c.opts.tlsConfig != nil {
		creds = credentials.NewTLS(c.opts.tlsConfig)
	}
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, c.opts.grpcDialOptions...)
	conn, err := grpc.NewClient(address, dial...)
	if err != nil {
		return nil, &Error{Kind: KindTransport, Err: err}
	}
	md := metadata.MD{}
	for k, vs := range c.opts.requestHeaders() {
		md.Append(strings.ToLower(k), vs...)
	}
	c.transport = &grpcTransport{c: c, conn: conn, stub: pb.NewEventServiceClient(conn), md: md}
	return c, nil
}

type grpcTransport struct {
	c    *Client
	conn *grpc.ClientConn
	stub pb.EventServiceClient
	md   metadata.MD
}

func (t *grpcTransport) start(p *Pending) {
	go t.c.runAttempts(p, func(ctx context.Context) (*Ack, *Error) { return t.attempt(ctx, p) })
}

func (t *grpcTransport) attempt(ctx context.Context, p *Pending) (*Ack, *Error) {
	resp, err := t.stub.SendEvent(metadata.NewOutgoingContext(ctx, t.md), p.req.message)
	if err != nil {
		st := status.Convert(err)
		e := &Error{Kind: KindBadRequest, GRPCCode: st.Code(), Reason: st.Message()}
		switch {
		case st.Code() == codes.Unavailable:
			e.Kind = KindTransport
		case RetryableGRPCCode(st.Code()):
			e.Kind = KindServer
		}
		return nil, e
	}
	ack := ackFromProto(resp)
	if ack.ReqGUID != p.ReqGUID {
		t.c.opts.logger.Warn("raccoon: gRPC ack names another req_guid", "sent", p.ReqGUID, "ack", ack.ReqGUID)
	}
	return ack, nil
}

func (t *grpcTransport) forget(*Pending) {}

func (t *grpcTransport) close() { _ = t.conn.Close() }
