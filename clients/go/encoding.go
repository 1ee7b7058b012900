package raccoon

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/raccoon-cpp/raccoon/clients/go/internal/pb"
)

// Serialize turns an event's data into its event_bytes: []byte as given, a
// proto.Message by its deterministic binary encoding (SerializeProtobuf) or
// protojson (SerializeJSON), any other value by encoding/json (SerializeJSON
// only). These bytes reach Kafka untouched.
func Serialize(data any, s Serialization) ([]byte, error) {
	switch d := data.(type) {
	case []byte:
		return d, nil
	case proto.Message:
		if s == SerializeJSON {
			return protojson.Marshal(d)
		}
		return proto.MarshalOptions{Deterministic: true}.Marshal(d)
	}
	if s == SerializeProtobuf {
		return nil, fmt.Errorf("protobuf serialization needs a proto.Message or []byte, got %T", data)
	}
	return json.Marshal(data)
}

// request is one encoded SendEventRequest: the same bytes go out on every
// attempt.
type request struct {
	guid    string
	body    []byte
	wire    WireType
	events  int
	sentAt  time.Time
	message *pb.SendEventRequest
}

type jsonTimestamp struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}

type jsonEvent struct {
	EventBytes []byte `json:"event_bytes"`
	Type       string `json:"type"`
}

type jsonRequest struct {
	ReqGUID  string        `json:"req_guid"`
	SentTime jsonTimestamp `json:"sent_time"`
	Events   []jsonEvent   `json:"events"`
}

// encodeRequest serializes the events and encodes the request by the wire
// type.
func encodeRequest(guid string, sentAt time.Time, events []Event, wire WireType, s Serialization) (*request, error) {
	msg := &pb.SendEventRequest{ReqGuid: guid, SentTime: timestamppb.New(sentAt)}
	msg.Events = make([]*pb.Event, 0, len(events))
	for i, e := range events {
		b, err := Serialize(e.Data, s)
		if err != nil {
			return nil, fmt.Errorf("event %d (%s): %w", i, e.Type, err)
		}
		msg.Events = append(msg.Events, &pb.Event{EventBytes: b, Type: e.Type})
	}
	r := &request{guid: guid, wire: wire, events: len(events), sentAt: sentAt, message: msg}
	var err error
	switch wire {
	case WireProtobuf:
		r.body, err = proto.Marshal(msg)
	case WireJSON:
		j := jsonRequest{
			ReqGUID:  guid,
			SentTime: jsonTimestamp{Seconds: msg.SentTime.Seconds, Nanos: msg.SentTime.Nanos},
			Events:   make([]jsonEvent, len(msg.Events)),
		}
		for i, e := range msg.Events {
			j.Events[i] = jsonEvent{EventBytes: e.EventBytes, Type: e.Type}
			if j.Events[i].EventBytes == nil {
				j.Events[i].EventBytes = []byte{}
			}
		}
		r.body, err = json.Marshal(j)
	default:
		err = fmt.Errorf("unknown wire type %v", wire)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

type jsonResponse struct {
	Status   int32             `json:"status"`
	Code     int32             `json:"code"`
	SentTime int64             `json:"sent_time"`
	Reason   string            `json:"reason"`
	Data     map[string]string `json:"data"`
}

// decodeAck decodes a SendEventResponse in the given wire type.
func decodeAck(body []byte, wire WireType) (*Ack, error) {
	if wire == WireJSON {
		var j jsonResponse
		if err := json.Unmarshal(body, &j); err != nil {
			return nil, fmt.Errorf("decoding a JSON ack: %w", err)
		}
		return &Ack{
			ReqGUID: j.Data["req_guid"], Status: Status(j.Status), Code: Code(j.Code),
			SentTime: j.SentTime, Reason: j.Reason, Data: j.Data,
		}, nil
	}
	var m pb.SendEventResponse
	if err := proto.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decoding a protobuf ack: %w", err)
	}
	return ackFromProto(&m), nil
}

func ackFromProto(m *pb.SendEventResponse) *Ack {
	return &Ack{
		ReqGUID: m.Data["req_guid"], Status: Status(m.Status), Code: Code(m.Code),
		SentTime: m.SentTime, Reason: m.Reason, Data: m.Data,
	}
}

// decodeJSONRequest reads the JSON wire request (the tests' fake servers use it).
func decodeJSONRequest(body []byte) (*pb.SendEventRequest, error) {
	var j jsonRequest
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, err
	}
	m := &pb.SendEventRequest{ReqGuid: j.ReqGUID,
		SentTime: &timestamppb.Timestamp{Seconds: j.SentTime.Seconds, Nanos: j.SentTime.Nanos}}
	for _, e := range j.Events {
		m.Events = append(m.Events, &pb.Event{EventBytes: e.EventBytes, Type: e.Type})
	}
	return m, nil
}
