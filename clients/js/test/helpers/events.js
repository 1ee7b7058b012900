// Test events: data that suits the serialization (a protobuf message or a
// JSON value), and raw bytes with NULs, high bytes and invalid UTF-8 every
// third event.
import { fromJson } from "@bufbuild/protobuf";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import { protobufMessage, serialize } from "../../src/node.js";

export function makeEvents(type, serialization, tag, count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    let data;
    if (i % 3 === 2) {
      const head = new TextEncoder().encode(`${tag}:${i}:`);
      data = new Uint8Array([...head, 0, 0xff, 0x80, 0, 0xc3, 0x28, 10, i & 0xff]);
    } else if (serialization === "protobuf") {
      data = protobufMessage(StructSchema, fromJson(StructSchema, { tag, i, ok: true }));
    } else {
      data = { tag, i, text: 'héllo "x"' };
    }
    out.push({ type, data });
  }
  return out;
}

/** What the events must be in Kafka. */
export function serialized(events, serialization) {
  return events.map((e) => serialize(e.data, serialization));
}
