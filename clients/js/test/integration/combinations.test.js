// Every combination against the real server and Kafka: WebSocket and REST
// with both wire types and both serializations, gRPC with both
// serializations (10). Every ack matches its guid at the first attempt;
// every event is in Kafka once, byte for byte.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connectWebSocket, createGrpcClient, createRestClient } from "../../src/node.js";
import { Server, assertTopicHolds } from "../helpers/server.js";
import { makeEvents, serialized } from "../helpers/events.js";

let srv;
before(async () => {
  srv = await Server.start();
});
after(async () => {
  const code = await srv?.stop();
  assert.equal(code, 0, `raccoon exited with ${code}:\n${srv?.stderr()}`);
});

const combos = [];
for (const protocol of ["websocket", "rest"]) {
  for (const wire of ["protobuf", "json"]) {
    for (const ser of ["protobuf", "json"]) combos.push({ protocol, wire, ser });
  }
}
combos.push(
  { protocol: "grpc", wire: "protobuf", ser: "protobuf" },
  { protocol: "grpc", wire: "protobuf", ser: "json" },
);

async function newClient(protocol, options) {
  if (protocol === "websocket") return connectWebSocket(srv.wsURL, options);
  if (protocol === "rest") return createRestClient(srv.restURL, options);
  return createGrpcClient(srv.grpcAddress, options);
}

combos.forEach(({ protocol, wire, ser }, i) => {
  const name = `${protocol} ${wire} wire, ${ser} data`;
  test(name, { timeout: 120_000 }, async () => {
    const acks = [];
    const client = await newClient(protocol, {
      connId: `js-combo-${i}`,
      wireType: wire,
      serialization: ser,
    });
    client.on("ack", (event) => acks.push(event));
    try {
      const type = `jscombo${i}`;
      const want = [];
      const sends = [];
      for (let b = 0; b < 3; b++) {
        const events = makeEvents(type, ser, `${name}/${b}`, 4);
        sends.push(client.send(events));
        want.push(...serialized(events, ser));
      }
      for (const send of sends) {
        const ack = await send;
        assert.ok(ack.ok, `ack ${JSON.stringify(ack)}`);
        assert.equal(ack.reqGuid, send.reqGuid);
        assert.equal(ack.attempts, 1);
      }
      assert.deepEqual(
        acks.map((a) => a.reqGuid).sort(),
        sends.map((s) => s.reqGuid).sort(),
        "the ack stream carries every send once",
      );
      assert.ok(acks.every((a) => a.ack && !a.error));
      await assertTopicHolds(srv.topic(type), want, true);
    } finally {
      await client.close();
    }
  });
});
