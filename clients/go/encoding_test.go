package raccoon

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/raccoon-cpp/raccoon/clients/go/internal/pb"
)

var fixedTime = time.Unix(1700000000, 123456789)

func TestSerialize(t *testing.T) {
	raw := []byte{0, 0xff, 0x80, 'a'}
	msg := wrapperspb.String("héllo")
	msgBinary, _ := proto.Marshal(msg)
	cases := []struct {
		name string
		data any
		s    Serialization
		want []byte
	}{
		{"bytes under protobuf are sent as given", raw, SerializeProtobuf, raw},
		{"bytes under json are sent as given", raw, SerializeJSON, raw},
		{"a message under protobuf", msg, SerializeProtobuf, msgBinary},
		{"a map under json", map[string]any{"b": 1, "a": "x"}, SerializeJSON, []byte(`{"a":"x","b":1}`)},
		{"a struct under json", struct {
			N int `json:"n"`
		}{7}, SerializeJSON, []byte(`{"n":7}`)},
	}
	for _, c := range cases {
		got, err := Serialize(c.data, c.s)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	// protojson's spacing is not stable across builds: compare as messages.
	got, err := Serialize(msg, SerializeJSON)
	var back wrapperspb.StringValue
	if err != nil || protojson.Unmarshal(got, &back) != nil || back.Value != "héllo" {
		t.Errorf("a message under json: %q, %v", got, err)
	}
	if _, err := Serialize(map[string]int{"a": 1}, SerializeProtobuf); err == nil {
		t.Error("a map under protobuf serialization must be refused")
	}
	// Deterministic: a map-bearing message serializes the same every time.
	st, _ := structpb.NewStruct(map[string]any{"z": 1, "a": 2, "m": 3, "q": "x", "b": true})
	first, _ := Serialize(st, SerializeProtobuf)
	for i := 0; i < 20; i++ {
		again, _ := Serialize(st, SerializeProtobuf)
		if !bytes.Equal(first, again) {
			t.Fatal("protobuf serialization of a map is not deterministic")
		}
	}
}

func TestEncodeRequestJSONGolden(t *testing.T) {
	r, err := encodeRequest("guid-1", fixedTime, []Event{
		{Type: "click", Data: []byte{0, 0xff, 'x'}},
		{Type: "view", Data: map[string]int{"n": 1}},
		{Type: "empty", Data: []byte{}},
	}, WireJSON, SerializeJSON)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"req_guid":"guid-1","sent_time":{"seconds":1700000000,"nanos":123456789},` +
		`"events":[{"event_bytes":"AP94","type":"click"},{"event_bytes":"eyJuIjoxfQ==","type":"view"},` +
		`{"event_bytes":"","type":"empty"}]}`
	if string(r.body) != want {
		t.Fatalf("JSON request\n got %s\nwant %s", r.body, want)
	}
	if r.guid != "guid-1" || r.events != 3 {
		t.Fatalf("request %+v", r)
	}
}

func TestEncodeRequestProtobuf(t *testing.T) {
	st, _ := structpb.NewStruct(map[string]any{"k": "v"})
	r, err := encodeRequest("guid-2", fixedTime, []Event{
		{Type: "a", Data: st},
		{Type: "b", Data: []byte("raw")},
	}, WireProtobuf, SerializeProtobuf)
	if err != nil {
		t.Fatal(err)
	}
	var m pb.SendEventRequest
	if err := proto.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	stBytes, _ := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if m.ReqGuid != "guid-2" || m.SentTime.Seconds != 1700000000 || m.SentTime.Nanos != 123456789 ||
		len(m.Events) != 2 || m.Events[0].Type != "a" || !bytes.Equal(m.Events[0].EventBytes, stBytes) ||
		m.Events[1].Type != "b" || string(m.Events[1].EventBytes) != "raw" {
		t.Fatalf("decoded %v", &m)
	}
	// Hand-checked golden bytes of a small request: field 1 (guid), 2
	// (timestamp), 3 (event: bytes 1, type 2).
	small, _ := encodeRequest("g", time.Unix(1, 2), []Event{{Type: "t", Data: []byte{0xff}}}, WireProtobuf, SerializeProtobuf)
	golden := []byte{0x0a, 0x01, 'g', 0x12, 0x04, 0x08, 0x01, 0x10, 0x02, 0x1a, 0x06, 0x0a, 0x01, 0xff, 0x12, 0x01, 't'}
	if !bytes.Equal(small.body, golden) {
		t.Fatalf("protobuf request % x, want % x", small.body, golden)
	}
}

func TestEncodeRequestRefusesWhatCannotBeSerialized(t *testing.T) {
	_, err := encodeRequest("g", fixedTime, []Event{{Type: "a", Data: 42}}, WireProtobuf, SerializeProtobuf)
	if err == nil {
		t.Fatal("an int under protobuf serialization was accepted")
	}
	_, err = encodeRequest("g", fixedTime, []Event{{Type: "a", Data: make(chan int)}}, WireJSON, SerializeJSON)
	if err == nil {
		t.Fatal("a channel under json serialization was accepted")
	}
}

func TestDecodeAck(t *testing.T) {
	j := `{"status":2,"code":3,"sent_time":1700000001,"reason":"broker down","data":{"req_guid":"g1"}}`
	a, err := decodeAck([]byte(j), WireJSON)
	if err != nil || a.ReqGUID != "g1" || a.Status != StatusError || a.Code != CodeInternalError ||
		a.SentTime != 1700000001 || a.Reason != "broker down" {
		t.Fatalf("JSON ack %+v, %v", a, err)
	}
	b, _ := proto.Marshal(&pb.SendEventResponse{Status: pb.Status_STATUS_SUCCESS, Code: pb.Code_CODE_OK,
		SentTime: 5, Data: map[string]string{"req_guid": "g2"}})
	a, err = decodeAck(b, WireProtobuf)
	if err != nil || a.ReqGUID != "g2" || !a.OK() || a.SentTime != 5 {
		t.Fatalf("protobuf ack %+v, %v", a, err)
	}
	if _, err := decodeAck([]byte("{"), WireJSON); err == nil {
		t.Fatal("a broken JSON ack was accepted")
	}
	// The refusal: no data at all.
	a, _ = decodeAck([]byte(`{"status":2,"code":5,"reason":"dup"}`), WireJSON)
	if a.ReqGUID != "" || a.Code != CodeMaxUserLimitReached {
		t.Fatalf("refusal %+v", a)
	}
}

func TestErrorIs(t *testing.T) {
	err := error(&Error{Kind: KindBadRequest, ReqGUID: "g", Attempts: 1, HTTPStatus: 400, Reason: "no events"})
	if !errors.Is(err, ErrBadRequest) || errors.Is(err, ErrServer) {
		t.Fatal("errors.Is by kind")
	}
	if got := err.Error(); got != "raccoon: bad request (req_guid g, 1 attempt): HTTP 400: no events" {
		t.Fatalf("message %q", got)
	}
}

// TestGeneratedCodeIsCurrent regenerates internal/pb from proto/ and
// compares it with what is committed.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc is not installed (scripts/install-deps.sh build installs it)")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "generate.sh", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, msg)
	}
	for _, name := range []string{"raccoon.pb.go", "raccoon_grpc.pb.go"} {
		fresh, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("internal", "pb", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("internal/pb/%s differs from what generate.sh makes: run ./generate.sh", name)
		}
	}
}

func TestJSONWireIsValidJSON(t *testing.T) {
	r, _ := encodeRequest("g", fixedTime, []Event{{Type: "x", Data: "s"}}, WireJSON, SerializeJSON)
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
}
