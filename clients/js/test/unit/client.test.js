// The client against fake servers: acks matched by guid out of order, ack
// errors retried or not, reconnects that re-send with the same guid, REST
// retries, the budget, timeouts, flush and close.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { WebSocketServer } from "ws";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  connectWebSocket,
  createRestClient,
  createGrpcClient,
  SendEventRequestSchema,
  SendEventResponseSchema,
  ErrorKind,
} from "../../src/node.js";

const fast = { initialBackoffMs: 5, maxBackoffMs: 20 };
const ev = (n = 1) => Array.from({ length: n }, (_, i) => ({ type: "t", data: new Uint8Array([i]) }));

function response(reqGuid, status = 1, code = 1, reason = "") {
  const data = reqGuid === null ? {} : { req_guid: reqGuid };
  return toBinary(
    SendEventResponseSchema,
    create(SendEventResponseSchema, { status, code, reason, sentTime: 1n, data }),
  );
}

/** A fake WebSocket server; onRequest(ws, req, n) answers. */
async function fakeWS(onRequest, onConnection = () => {}) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.once("listening", r));
  let n = 0;
  const headers = [];
  wss.on("connection", (ws, req) => {
    headers.push(req.headers);
    onConnection(ws);
    ws.on("message", (data, isBinary) => {
      const req = isBinary ? fromBinary(SendEventRequestSchema, data) : JSON.parse(data.toString());
      onRequest(ws, req, ++n);
    });
  });
  return { url: `ws://127.0.0.1:${wss.address().port}/api/v1/events`, wss, headers, count: () => n };
}

test("WebSocket: acks matched by req_guid in any order; the ack stream sees each send once", async () => {
  const held = [];
  const f = await fakeWS((ws, req) => {
    held.push(req.reqGuid);
    if (held.length === 3) for (const g of held.reverse()) ws.send(response(g));
  });
  const c = await connectWebSocket(f.url, { connId: "u1", connGroup: "g1", headers: { "X-Extra": "e" } });
  const stream = [];
  c.on("ack", (e) => stream.push(e.reqGuid));
  const sends = [c.send(ev()), c.send(ev()), c.send(ev(), { reqGuid: "mine" })];
  const acks = await Promise.all(sends);
  assert.deepEqual(
    acks.map((a) => a.reqGuid),
    sends.map((s) => s.reqGuid),
  );
  assert.equal(sends[2].reqGuid, "mine");
  assert.match(sends[0].reqGuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(stream, [...held]);
  assert.equal(f.headers[0]["x-user-id"], "u1");
  assert.equal(f.headers[0]["x-user-group"], "g1");
  assert.equal(f.headers[0]["x-extra"], "e");
  await c.close();
  f.wss.close();
});

test("WebSocket JSON wire: text frames both ways", async () => {
  const f = await fakeWS((ws, req) =>
    ws.send(JSON.stringify({ status: 1, code: 1, sent_time: 1, data: { req_guid: req.req_guid } })),
  );
  const c = await connectWebSocket(f.url, { connId: "u", wireType: "json", serialization: "json" });
  const ack = await c.send([{ type: "t", data: { a: 1 } }]);
  assert.ok(ack.ok);
  await c.close();
  f.wss.close();
});

test("WebSocket: an internal-error ack is retried with the same guid; a bad-request ack is not", async () => {
  const seen = [];
  const f = await fakeWS((ws, req) => {
    seen.push(req.reqGuid);
    if (req.reqGuid === "bad") ws.send(response("bad", 2, 2, "events[0] is null"));
    else if (seen.filter((g) => g === req.reqGuid).length < 3)
      ws.send(response(req.reqGuid, 2, 3, "broker down"));
    else ws.send(response(req.reqGuid));
  });
  const c = await connectWebSocket(f.url, { connId: "u", retry: fast });
  const ack = await c.send(ev(), { reqGuid: "good" });
  assert.equal(ack.attempts, 3);
  const err = await c.send(ev(), { reqGuid: "bad" }).catch((e) => e);
  assert.equal(err.kind, ErrorKind.BAD_REQUEST);
  assert.equal(err.attempts, 1);
  assert.equal(err.reason, "events[0] is null");
  assert.deepEqual(seen, ["good", "good", "good", "bad"]);
  await c.close();
  f.wss.close();
});

test("WebSocket: after a drop it reconnects and re-sends the unacked requests in order with their guids", async () => {
  const seen = [];
  let connections = 0;
  const f = await fakeWS(
    (ws, req) => {
      seen.push([connections, req.reqGuid]);
      // The first connection swallows two requests, then drops.
      if (connections === 1) {
        if (seen.length === 2) ws.terminate();
        return;
      }
      ws.send(response(req.reqGuid));
    },
    () => connections++,
  );
  const events = [];
  const c = await connectWebSocket(f.url, {
    connId: "u",
    retry: fast,
    onDisconnect: () => events.push("disconnect"),
    onReconnect: () => events.push("reconnect"),
  });
  const a = c.send(ev(), { reqGuid: "a" });
  const b = c.send(ev(), { reqGuid: "b" });
  const [ackA, ackB] = await Promise.all([a, b]);
  assert.equal(ackA.attempts, 2);
  assert.equal(ackB.attempts, 2);
  assert.deepEqual(seen, [
    [1, "a"],
    [1, "b"],
    [2, "a"],
    [2, "b"],
  ]);
  assert.deepEqual(events, ["disconnect", "reconnect"]);
  await c.close();
  f.wss.close();
});

test("WebSocket: no ack within the attempt timeout is a retry; attempts run out with a transport error", async () => {
  let n = 0;
  const f = await fakeWS(() => n++);
  const c = await connectWebSocket(f.url, {
    connId: "u",
    attemptTimeoutMs: 30,
    retry: { ...fast, maxAttempts: 3 },
  });
  const err = await c.send(ev()).catch((e) => e);
  assert.equal(err.kind, ErrorKind.TRANSPORT);
  assert.equal(err.attempts, 3);
  assert.equal(n, 3);
  await c.close();
  f.wss.close();
});

test("WebSocket: the refusal message and 1008 close fail every send with a refused error, without reconnecting", async () => {
  let connections = 0;
  const f = await fakeWS(
    () => {},
    (ws) => {
      connections++;
      ws.send(response(null, 2, 5, "already connected"));
      ws.close(1008, "");
    },
  );
  const c = await connectWebSocket(f.url, { connId: "u", retry: fast });
  const err = await c.send(ev()).catch((e) => e);
  assert.equal(err.kind, ErrorKind.REFUSED);
  assert.equal(err.code, 5);
  assert.equal(err.reason, "already connected");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(connections, 1);
  assert.equal((await c.send(ev()).catch((e) => e)).kind, ErrorKind.REFUSED);
  await c.close();
  f.wss.close();
});

test("WebSocket: an HTTP 4xx answer to the upgrade is a refusal; a dead port a transport error", async () => {
  const server = http.createServer((req, res) => {
    res.writeHead(403);
    res.end("origin not allowed\n");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const err = await connectWebSocket(`ws://127.0.0.1:${server.address().port}/`, { connId: "u" }).catch(
    (e) => e,
  );
  assert.equal(err.kind, ErrorKind.REFUSED);
  assert.equal(err.httpStatus, 403);
  assert.equal(err.reason, "origin not allowed");
  server.close();
  const dead = await connectWebSocket("ws://127.0.0.1:1/", { connId: "u" }).catch((e) => e);
  assert.equal(dead.kind, ErrorKind.TRANSPORT);
  assert.equal((await connectWebSocket("http://x/").catch((e) => e)).kind, ErrorKind.ENCODING);
});

async function fakeREST(handler) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const r =
        req.headers["content-type"] === "application/json"
          ? { reqGuid: JSON.parse(body).req_guid }
          : fromBinary(SendEventRequestSchema, body);
      seen.push({ guid: r.reqGuid, headers: req.headers, body });
      handler(res, r, seen.length);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/api/v1/events`, server, seen };
}

test("REST: 429 and 5xx retried with the same bytes and guid, then the ack", async () => {
  const f = await fakeREST((res, r, n) => {
    if (n === 1) res.writeHead(429).end();
    else if (n === 2) res.writeHead(500).end("oops");
    else res.writeHead(200, { "Content-Type": "application/proto" }).end(response(r.reqGuid));
  });
  const c = createRestClient(f.url, { retry: fast, connId: "u" });
  const ack = await c.send(ev(3));
  assert.equal(ack.attempts, 3);
  assert.equal(new Set(f.seen.map((s) => s.guid)).size, 1);
  assert.equal(new Set(f.seen.map((s) => s.body.toString("hex"))).size, 1, "the same request bytes");
  assert.equal(f.seen[0].headers["content-type"], "application/proto");
  assert.equal(f.seen[0].headers["x-user-id"], "u");
  await c.close();
  f.server.close();
});

test("REST: 400 is not retried; its JSON reason is kept", async () => {
  const f = await fakeREST((res, r) =>
    res.writeHead(400, { "Content-Type": "application/json" }).end(
      JSON.stringify({
        status: 2,
        code: 2,
        sent_time: 1,
        reason: "events[0] is null",
        data: { req_guid: r.reqGuid },
      }),
    ),
  );
  const c = createRestClient(f.url, { retry: fast, wireType: "json" });
  const err = await c.send(ev()).catch((e) => e);
  assert.deepEqual(
    [err.kind, err.httpStatus, err.code, err.reason, err.attempts],
    ["bad_request", 400, 2, "events[0] is null", 1],
  );
  assert.equal(f.seen.length, 1);
  await c.close();
  f.server.close();
});

test("REST: max attempts, and the budget stops retries across sends", async () => {
  const f = await fakeREST((res) => res.writeHead(503).end());
  const c = createRestClient(f.url, { retry: { ...fast, maxAttempts: 3, budgetCapacity: 12, retryCost: 5 } });
  const first = await c.send(ev()).catch((e) => e);
  assert.deepEqual(
    [first.kind, first.attempts, first.httpStatus, first.budgetExhausted],
    ["server", 3, 503, false],
  );
  const second = await c.send(ev()).catch((e) => e);
  assert.deepEqual([second.kind, second.attempts, second.budgetExhausted], ["server", 1, true]);
  assert.equal(f.seen.length, 4);
  await c.close();
  f.server.close();
});

test("send timeout, flush and close", async () => {
  const held = [];
  const f = await fakeREST((res) => held.push(res));
  const c = createRestClient(f.url, { sendTimeoutMs: 100, attemptTimeoutMs: 1000 });
  const err = await c.send(ev()).catch((e) => e);
  assert.equal(err.kind, ErrorKind.TIMEOUT);
  const c2 = createRestClient(f.url, { attemptTimeoutMs: 5000 });
  const pending = c2.send(ev());
  await assert.rejects(c2.flush(50), /1 sends still pending/);
  await assert.rejects(c2.close(50), /still pending/);
  assert.equal((await pending.catch((e) => e)).kind, ErrorKind.CLOSED);
  assert.equal((await c2.send(ev()).catch((e) => e)).kind, ErrorKind.CLOSED);
  for (const res of held) res.destroy();
  f.server.close();
});

test("maxPending bounds what waits", async () => {
  const held = [];
  const f = await fakeREST((res) => held.push(res));
  const c = createRestClient(f.url, { maxPending: 2 });
  c.send(ev());
  c.send(ev());
  const err = await c.send(ev()).catch((e) => e);
  assert.equal(err.kind, ErrorKind.TRANSPORT);
  assert.match(err.message, /buffer full/);
  await c.close(10).catch(() => {});
  for (const res of held) res.destroy();
  f.server.close();
});

test("gRPC refuses the JSON wire at construction", () => {
  assert.throws(
    () => createGrpcClient("127.0.0.1:1", { wireType: "json" }),
    (e) => e.kind === "encoding",
  );
});

test("gRPC: UNAVAILABLE is retried, then a transport error", async () => {
  const c = createGrpcClient("127.0.0.1:1", { retry: { ...fast, maxAttempts: 2 } });
  const err = await c.send(ev()).catch((e) => e);
  assert.deepEqual([err.kind, err.grpcCode, err.attempts], ["transport", 14, 2]);
  await c.close();
});

test("WebSocket: closing between connections ends the reconnect back-off at once", async () => {
  const f = await fakeWS(() => {});
  let dials = 0;
  const c = await connectWebSocket(f.url, {
    connId: "u",
    retry: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 },
    connector: async (url, headers, timeoutMs) => {
      dials++;
      if (dials > 1) throw new Error("no second connection expected");
      const { nodeConnector } = await import("../../src/node.js");
      return nodeConnector(url, headers, timeoutMs);
    },
  });
  try {
    const dropped = new Promise((r) => c.once("disconnect", r));
    for (const ws of f.wss.clients) ws.terminate();
    await dropped;
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const started = Date.now();
    await c.close(1000);
    assert.ok(Date.now() - started < 500, "close waited out the back-off");
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    assert.ok(timersAfter < timersBefore, `the back-off timer is gone (${timersBefore} -> ${timersAfter})`);
    assert.equal(dials, 1);
  } finally {
    await c.close(10).catch(() => {});
    f.wss.close();
  }
});
