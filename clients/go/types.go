package raccoon

import (
	"fmt"

	"github.com/raccoon-cpp/raccoon/clients/go/internal/pb"
)

// WireType is how a request and its ack travel: protobuf or JSON.
type WireType int

const (
	// WireProtobuf sends a protobuf SendEventRequest (WebSocket binary
	// frames, REST Content-Type application/proto, gRPC).
	WireProtobuf WireType = iota
	// WireJSON sends the JSON request (WebSocket text frames, REST
	// Content-Type application/json). gRPC does not carry it.
	WireJSON
)

func (w WireType) String() string {
	switch w {
	case WireProtobuf:
		return "protobuf"
	case WireJSON:
		return "json"
	}
	return fmt.Sprintf("WireType(%d)", int(w))
}

// Serialization is how an event's Data becomes its event_bytes.
type Serialization int

const (
	// SerializeProtobuf: Data must be a proto.Message (or []byte).
	SerializeProtobuf Serialization = iota
	// SerializeJSON: Data is marshaled as JSON (protojson for a
	// proto.Message); []byte is sent as given.
	SerializeJSON
)

func (s Serialization) String() string {
	switch s {
	case SerializeProtobuf:
		return "protobuf"
	case SerializeJSON:
		return "json"
	}
	return fmt.Sprintf("Serialization(%d)", int(s))
}

// Event is one event of a batch: its type names the topic on the server,
// its data is serialized by the client's Serialization.
type Event struct {
	Type string
	// Data is []byte (sent as given), a proto.Message, or, with
	// SerializeJSON, any value encoding/json can marshal.
	Data any
}

// Status is SendEventResponse.status.
type Status int32

// Code is SendEventResponse.code.
type Code int32

const (
	StatusUnspecified = Status(pb.Status_STATUS_UNSPECIFIED)
	StatusSuccess     = Status(pb.Status_STATUS_SUCCESS)
	StatusError       = Status(pb.Status_STATUS_ERROR)

	CodeUnspecified               = Code(pb.Code_CODE_UNSPECIFIED)
	CodeOK                        = Code(pb.Code_CODE_OK)
	CodeBadRequest                = Code(pb.Code_CODE_BAD_REQUEST)
	CodeInternalError             = Code(pb.Code_CODE_INTERNAL_ERROR)
	CodeMaxConnectionLimitReached = Code(pb.Code_CODE_MAX_CONNECTION_LIMIT_REACHED)
	CodeMaxUserLimitReached       = Code(pb.Code_CODE_MAX_USER_LIMIT_REACHED)
)

func (s Status) String() string { return pb.Status(s).String() }
func (c Code) String() string   { return pb.Code(c).String() }

// Ack is the server's SendEventResponse for one request.
type Ack struct {
	ReqGUID string
	Status  Status
	Code    Code
	// SentTime is when the server answered, in Unix seconds.
	SentTime int64
	Reason   string
	Data     map[string]string
	// Attempts is how many times the request was sent.
	Attempts int
}

// OK reports whether the server took the batch.
func (a *Ack) OK() bool { return a.Status == StatusSuccess && a.Code == CodeOK }
