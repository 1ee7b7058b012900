// Wire type x serialization encoding (golden bytes from protoc --encode) and ack decoding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, fromJson } from "@bufbuild/protobuf";
import { StructSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { encodeRequest, decodeAck, base64 } from "../../src/encoding.js";
import {
  protobufMessage,
  serialize,
  SendEventRequestSchema,
  Status,
  Code,
  RaccoonError,
} from "../../src/node.js";

const hex = (b) => Buffer.from(b).toString("hex");
const sentAt = new Date(1700000000123);
const events = [
  { type: "click", data: new Uint8Array([1, 2, 255]) },
  { type: "page", data: { a: 1 } },
];

test("protobuf wire: the bytes protoc --encode gives for the same request", () => {
  // events[1] serialized as JSON; protobuf serialization would refuse a plain object.
  const r = encodeRequest("guid-1", sentAt, events, "protobuf", "json");
  assert.equal(
    hex(r.body),
    "0a06677569642d31120b0880e2cfaa0610c0a9d33a1a0c0a030102ff1205636c69636b1a0f0a077b2261223a317d120470616765",
  );
  assert.equal(r.reqGuid, "guid-1");
  assert.equal(r.events, 2);
});

test("json wire: snake_case keys, sent_time seconds and nanos, base64 event_bytes", () => {
  const r = encodeRequest("guid-1", sentAt, events, "json", "json");
  assert.equal(
    r.body,
    '{"req_guid":"guid-1","sent_time":{"seconds":1700000000,"nanos":123000000},' +
      '"events":[{"event_bytes":"AQL/","type":"click"},{"event_bytes":"eyJhIjoxfQ==","type":"page"}]}',
  );
});

test("an empty batch encodes (the server acks it)", () => {
  const r = encodeRequest("g", sentAt, [], "json", "json");
  assert.equal(JSON.parse(r.body).events.length, 0);
  const p = encodeRequest("g", sentAt, [], "protobuf", "protobuf");
  assert.equal(fromBinary(SendEventRequestSchema, p.body).events.length, 0);
});

test("base64 matches Buffer's for every length and byte", () => {
  for (let n = 0; n < 70; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n * 13) & 0xff);
    assert.equal(base64(b), Buffer.from(b).toString("base64"));
  }
});

test("serialization: bytes as given, protobuf messages binary or canonical JSON, values as JSON", () => {
  const bytes = new Uint8Array([0, 0xc3, 0x28]);
  assert.equal(serialize(bytes, "protobuf"), bytes);
  assert.equal(serialize(bytes, "json"), bytes);
  const ts = create(TimestampSchema, { seconds: 5n, nanos: 1 });
  assert.equal(hex(serialize(protobufMessage(TimestampSchema, ts), "protobuf")), "080510" + "01");
  assert.equal(
    Buffer.from(serialize(protobufMessage(TimestampSchema, ts), "json")).toString(),
    '"1970-01-01T00:00:05.000000001Z"',
  );
  const st = fromJson(StructSchema, { b: 2, a: "x" });
  assert.equal(
    Buffer.from(serialize(protobufMessage(StructSchema, st), "json")).toString(),
    '{"b":2,"a":"x"}',
  );
  assert.equal(Buffer.from(serialize({ k: "é", n: [1, null] }, "json")).toString(), '{"k":"é","n":[1,null]}');
  assert.equal(hex(serialize({ toBinary: () => new Uint8Array([7]) }, "protobuf")), "07");
});

test("serialization errors are encoding errors naming the event", () => {
  assert.throws(() => serialize({ a: 1 }, "protobuf"), /protobuf serialization needs a protobuf message/);
  assert.throws(() => serialize(undefined, "json"), /no JSON form/);
  assert.throws(
    () => encodeRequest("g", sentAt, [{ type: "x", data: { a: 1 } }], "protobuf", "protobuf"),
    (e) => e instanceof RaccoonError && e.kind === "encoding" && /event 0 \(x\)/.test(e.message),
  );
  assert.throws(() => encodeRequest("g", sentAt, [{ data: 1 }], "json", "json"), /no string type/);
});

test("acks decode from protobuf (protoc's bytes) and from JSON", () => {
  const ok = decodeAck(
    Buffer.from("080110011881e2cfaa062a120a087265715f677569641206677569642d31", "hex"),
    "protobuf",
  );
  assert.equal(ok.reqGuid, "guid-1");
  assert.equal(ok.status, Status.SUCCESS);
  assert.equal(ok.code, Code.OK);
  assert.equal(ok.sentTime, 1700000001);
  assert.ok(ok.ok);
  const refusal = decodeAck(
    Buffer.from("080210051881e2cfaa062211616c726561647920636f6e6e6563746564", "hex"),
    "protobuf",
  );
  assert.equal(refusal.reqGuid, "");
  assert.equal(refusal.code, Code.MAX_USER_LIMIT_REACHED);
  assert.equal(refusal.reason, "already connected");
  assert.ok(!refusal.ok);
  const j = decodeAck(
    '{"status":2,"code":2,"sent_time":1700000001,"reason":"events[0] is null","data":{"req_guid":"g"}}',
    "json",
  );
  assert.deepEqual([j.reqGuid, j.status, j.code, j.reason, j.ok], ["g", 2, 2, "events[0] is null", false]);
  // A refusal without a req_guid has no data.
  const nodata = decodeAck('{"status":2,"code":2,"sent_time":1,"reason":"bad"}', "json");
  assert.equal(nodata.reqGuid, "");
  assert.throws(() => decodeAck("not json", "json"));
});
