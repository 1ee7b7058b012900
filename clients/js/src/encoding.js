// Wire type x serialization type (clients/README.md, section 2): the event
// data to event_bytes, the SendEventRequest to the bytes of the wire, the
// SendEventResponse back. Runs in Node and in browsers alike.
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import { RaccoonError } from "./errors.js";
import {
  SendEventRequestSchema,
  SendEventResponseSchema,
} from "./gen/raystack/raccoon/v1beta1/raccoon_pb.js";

/** How the request and the ack travel. */
export const WireType = Object.freeze({ PROTOBUF: "protobuf", JSON: "json" });
/** How an event's data becomes its event_bytes. */
export const Serialization = Object.freeze({ PROTOBUF: "protobuf", JSON: "json" });
/** SendEventResponse.status */
export const Status = Object.freeze({ UNSPECIFIED: 0, SUCCESS: 1, ERROR: 2 });
/** SendEventResponse.code */
export const Code = Object.freeze({
  UNSPECIFIED: 0,
  OK: 1,
  BAD_REQUEST: 2,
  INTERNAL_ERROR: 3,
  MAX_CONNECTION_LIMIT_REACHED: 4,
  MAX_USER_LIMIT_REACHED: 5,
});

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

const PROTOBUF_MESSAGE = Symbol("raccoon.protobufMessage");

/**
 * Marks a protobuf-es message with its schema, so that it is serialized as
 * protobuf (binary) or as its canonical proto3 JSON.
 */
export function protobufMessage(schema, message) {
  return { [PROTOBUF_MESSAGE]: true, schema, message };
}

function isBytes(data) {
  return data instanceof Uint8Array;
}

/**
 * Serialize turns an event's data into its event_bytes: bytes as given, a
 * protobuf message by its binary encoding or its canonical JSON, any other
 * value by JSON.stringify (serialization json only). These bytes reach Kafka
 * untouched.
 */
export function serialize(data, serialization) {
  if (isBytes(data)) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data && typeof data === "object") {
    if (data[PROTOBUF_MESSAGE]) {
      return serialization === Serialization.JSON
        ? utf8.encode(toJsonString(data.schema, data.message))
        : toBinary(data.schema, data.message);
    }
    // Messages of other protobuf libraries: protobuf-es 1 (toBinary,
    // toJsonString), google-protobuf (serializeBinary).
    if (serialization === Serialization.PROTOBUF) {
      if (typeof data.toBinary === "function") return data.toBinary();
      if (typeof data.serializeBinary === "function") return data.serializeBinary();
    } else if (typeof data.toJsonString === "function") {
      return utf8.encode(data.toJsonString());
    }
  }
  if (serialization === Serialization.PROTOBUF) {
    throw new Error(
      "protobuf serialization needs a protobuf message (protobufMessage(schema, message)) or bytes, got " +
        describe(data),
    );
  }
  if (serialization !== Serialization.JSON) {
    throw new Error(`unknown serialization ${serialization}`);
  }
  const json = JSON.stringify(data);
  if (json === undefined) throw new Error(`${describe(data)} has no JSON form`);
  return utf8.encode(json);
}

function describe(value) {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 with padding, as Go's encoding/json writes []byte. */
export function base64(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (i < bytes.length) {
    const rest = bytes.length - i;
    const n = (bytes[i] << 16) | (rest === 2 ? bytes[i + 1] << 8 : 0);
    out += B64[n >> 18] + B64[(n >> 12) & 63];
    out += rest === 2 ? B64[(n >> 6) & 63] + "=" : "==";
  }
  return out;
}

/**
 * Encodes one request: every event serialized, then the SendEventRequest by
 * the wire type. The returned body goes out unchanged on every attempt.
 *
 * @returns {{reqGuid: string, wire: string, body: Uint8Array|string, message: object, events: number}}
 */
export function encodeRequest(reqGuid, sentAt, events, wire, serialization) {
  if (!Array.isArray(events)) {
    throw new RaccoonError("encoding", "events must be an array of {type, data}", { reqGuid });
  }
  const ms = sentAt.getTime();
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  const encoded = events.map((event, i) => {
    if (!event || typeof event.type !== "string") {
      throw new RaccoonError("encoding", `event ${i} has no string type`, { reqGuid });
    }
    try {
      return { type: event.type, eventBytes: serialize(event.data, serialization) };
    } catch (err) {
      throw new RaccoonError("encoding", `event ${i} (${event.type}): ${err.message}`, {
        reqGuid,
        cause: err,
      });
    }
  });
  const message = create(SendEventRequestSchema, {
    reqGuid,
    sentTime: { seconds: BigInt(seconds), nanos },
    events: encoded,
  });
  let body;
  if (wire === WireType.PROTOBUF) {
    body = toBinary(SendEventRequestSchema, message);
  } else if (wire === WireType.JSON) {
    body = JSON.stringify({
      req_guid: reqGuid,
      sent_time: { seconds, nanos },
      events: encoded.map((e) => ({ event_bytes: base64(e.eventBytes), type: e.type })),
    });
  } else {
    throw new RaccoonError("encoding", `unknown wire type ${wire}`, { reqGuid });
  }
  return { reqGuid, wire, body, message, events: events.length };
}

/**
 * Decodes a SendEventResponse: a string or bytes holding JSON (wire json;
 * enums as numbers) or protobuf bytes.
 */
export function decodeAck(body, wire) {
  if (wire === WireType.JSON) {
    const text = typeof body === "string" ? body : utf8Decoder.decode(body);
    const j = JSON.parse(text);
    if (!j || typeof j !== "object") throw new Error("a JSON ack is not an object");
    const data = j.data && typeof j.data === "object" ? j.data : {};
    return makeAck({
      status: Number(j.status ?? 0),
      code: Number(j.code ?? 0),
      sentTime: Number(j.sent_time ?? 0),
      reason: typeof j.reason === "string" ? j.reason : "",
      data,
    });
  }
  const bytes = typeof body === "string" ? utf8.encode(body) : toUint8Array(body);
  const m = fromBinary(SendEventResponseSchema, bytes);
  return makeAck({
    status: m.status,
    code: m.code,
    sentTime: Number(m.sentTime),
    reason: m.reason,
    data: { ...m.data },
  });
}

export function toUint8Array(body) {
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  throw new Error(`cannot read ${describe(body)} as bytes`);
}

function makeAck({ status, code, sentTime, reason, data }) {
  return {
    reqGuid: typeof data.req_guid === "string" ? data.req_guid : "",
    status,
    code,
    sentTime,
    reason,
    data,
    attempts: 0,
    get ok() {
      return this.status === Status.SUCCESS && (this.code === Code.OK || this.code === Code.UNSPECIFIED);
    },
  };
}

/** Builds an ack from a SendEventResponse message (gRPC). */
export function ackFromMessage(m) {
  return makeAck({
    status: m.status,
    code: m.code,
    sentTime: Number(m.sentTime),
    reason: m.reason,
    data: { ...m.data },
  });
}

export { makeAck };
