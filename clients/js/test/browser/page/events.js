// The events of one batch: a JSON value or a protobuf message, and raw bytes
// every third. The page and the test (which computes what Kafka must hold)
// both make them here, each with its own build of the package.
export function makeEvents(raccoon, type, serialization, tag, count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    let data;
    if (i % 3 === 2) {
      data = new Uint8Array([
        ...new TextEncoder().encode(`${tag}:${i}:`),
        0,
        0xff,
        0x80,
        0,
        0xc3,
        0x28,
        10,
        i,
      ]);
    } else if (serialization === "protobuf") {
      const message = raccoon.create(raccoon.EventSchema, {
        type: `${tag}:${i}`,
        eventBytes: new Uint8Array([i, 0, 255]),
      });
      data = raccoon.protobufMessage(raccoon.EventSchema, message);
    } else {
      data = { tag, i, text: 'héllo "x"' };
    }
    out.push({ type, data });
  }
  return out;
}
