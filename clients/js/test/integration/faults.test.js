// Faults against the real server and Kafka: the server restarted under a
// WebSocket client, a front answering 503 then 200, a 400 the server gives,
// a refused duplicate connection.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { connectWebSocket, createRestClient, ErrorKind, RaccoonError, Code } from "../../src/node.js";
import { Server, assertTopicHolds, HOST } from "../helpers/server.js";
import { makeEvents, serialized } from "../helpers/events.js";

const fastRetry = { initialBackoffMs: 20, maxBackoffMs: 500 };

async function withServer(extra, fn) {
  const srv = await Server.start(extra);
  try {
    await fn(srv);
  } finally {
    const code = await srv.stop();
    assert.equal(code, 0, `raccoon exited with ${code}:\n${srv.stderr()}`);
  }
}

test(
  "the server restarted under a WebSocket client: it reconnects and every send is acked and in Kafka",
  { timeout: 120_000 },
  async () => {
    await withServer({}, async (srv) => {
      let disconnects = 0;
      let reconnects = 0;
      const client = await connectWebSocket(srv.wsURL, {
        connId: "js-restart-1",
        serialization: "json",
        retry: fastRetry,
      });
      client.on("disconnect", () => disconnects++);
      client.on("reconnect", () => reconnects++);
      try {
        const sends = [];
        const want = [];
        const batches = 60;
        const sender = (async () => {
          for (let b = 0; b < batches; b++) {
            const events = makeEvents("jsrestart", "json", `restart/${b}`, 3);
            sends.push(client.send(events));
            want.push(...serialized(events, "json"));
            await new Promise((r) => setTimeout(r, 40));
          }
        })();
        await new Promise((r) => setTimeout(r, 800));
        await srv.restart();
        await sender;
        const acks = await Promise.all(sends);
        for (const [i, ack] of acks.entries()) {
          assert.ok(ack.ok);
          assert.equal(ack.reqGuid, sends[i].reqGuid);
        }
        assert.ok(disconnects >= 1, `disconnects ${disconnects}`);
        assert.ok(reconnects >= 1, `reconnects ${reconnects}`);
        // At least once: a batch whose ack was lost with the connection may be there twice.
        await assertTopicHolds(srv.topic("jsrestart"), want, false);
      } finally {
        await client.close();
      }
    });
  },
);

/** A front that answers the first `fail` requests with `status` and proxies the rest, recording each req_guid. */
function front(target, { fail = 0, status = 503, corrupt = false } = {}) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      let body = Buffer.concat(chunks);
      seen.push(JSON.parse(body.toString()).req_guid);
      if (seen.length <= fail) {
        res.writeHead(status, { "Content-Type": "text/plain" });
        res.end("try later\n");
        return;
      }
      // A JSON body cut short: the real server's own 400.
      if (corrupt) body = body.subarray(0, body.length - 5);
      try {
        const r = await fetch(target, {
          method: "POST",
          headers: { "Content-Type": req.headers["content-type"] },
          body,
        });
        const answer = Buffer.from(await r.arrayBuffer());
        res.writeHead(r.status, { "Content-Type": r.headers.get("content-type") ?? "" });
        res.end(answer);
      } catch (err) {
        res.writeHead(502);
        res.end(String(err));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, HOST, () =>
      resolve({ url: `http://${HOST}:${server.address().port}/api/v1/events`, seen, server }),
    ),
  );
}

test("REST: 503 then 200, the retry succeeds with the same req_guid", { timeout: 60_000 }, async () => {
  await withServer({}, async (srv) => {
    const f = await front(srv.restURL, { fail: 1, status: 503 });
    const client = createRestClient(f.url, { wireType: "json", serialization: "json", retry: fastRetry });
    try {
      const events = makeEvents("jsretry503", "json", "503", 3);
      const send = client.send(events);
      const ack = await send;
      assert.ok(ack.ok);
      assert.equal(ack.attempts, 2);
      assert.equal(ack.reqGuid, send.reqGuid);
      assert.deepEqual(f.seen, [send.reqGuid, send.reqGuid]);
      await assertTopicHolds(srv.topic("jsretry503"), serialized(events, "json"), true);
    } finally {
      await client.close();
      f.server.close();
    }
  });
});

test("REST: the server's 400 is not retried and names its reason", { timeout: 60_000 }, async () => {
  await withServer({}, async (srv) => {
    const f = await front(srv.restURL, { corrupt: true });
    const client = createRestClient(f.url, { wireType: "json", serialization: "json", retry: fastRetry });
    try {
      const send = client.send(makeEvents("jsbad", "json", "400", 2));
      const err = await send.then(
        () => assert.fail("a corrupt request was acked"),
        (e) => e,
      );
      assert.ok(err instanceof RaccoonError, String(err));
      assert.equal(err.kind, ErrorKind.BAD_REQUEST);
      assert.equal(err.httpStatus, 400);
      assert.equal(err.code, Code.BAD_REQUEST);
      assert.equal(err.attempts, 1);
      assert.ok(err.reason.length > 0, "the server's reason");
      assert.equal(err.reqGuid, send.reqGuid);
      assert.deepEqual(f.seen, [send.reqGuid]);
    } finally {
      await client.close();
      f.server.close();
    }
  });
});

test(
  "REST: a request over SERVER_MAX_REQUEST_BYTES is refused (413) at once",
  { timeout: 60_000 },
  async () => {
    await withServer({ SERVER_MAX_REQUEST_BYTES: "1024" }, async (srv) => {
      const client = createRestClient(srv.restURL, { retry: fastRetry });
      try {
        const err = await client.send([{ type: "jsbig", data: new Uint8Array(4096) }]).then(
          () => assert.fail("an oversized request was acked"),
          (e) => e,
        );
        assert.equal(err.kind, ErrorKind.BAD_REQUEST, String(err));
        assert.equal(err.httpStatus, 413);
        assert.equal(err.attempts, 1);
      } finally {
        await client.close();
      }
    });
  },
);

test(
  "WebSocket: a second connection with the same id is refused, not retried",
  { timeout: 60_000 },
  async () => {
    await withServer({}, async (srv) => {
      const first = await connectWebSocket(srv.wsURL, { connId: "js-dup" });
      let second;
      try {
        assert.ok((await first.send(makeEvents("jsdup", "protobuf", "first", 1))).ok);
        let disconnected = null;
        // The upgrade succeeds; the refusal arrives as a message and a 1008 close.
        second = await connectWebSocket(srv.wsURL, { connId: "js-dup", retry: fastRetry });
        second.on("disconnect", (e) => (disconnected = e));
        const err = await second.send(makeEvents("jsdup", "protobuf", "second", 1)).then(
          () => assert.fail("a refused connection acked a send"),
          (e) => e,
        );
        assert.equal(err.kind, ErrorKind.REFUSED, String(err));
        assert.equal(err.code, Code.MAX_USER_LIMIT_REACHED);
        assert.ok(err.reason.length > 0);
        const later = await second.send(makeEvents("jsdup", "protobuf", "later", 1)).then(
          () => null,
          (e) => e,
        );
        assert.equal(later?.kind, ErrorKind.REFUSED);
        const deadline = Date.now() + 5000;
        while (!disconnected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(disconnected?.kind, ErrorKind.REFUSED);
        assert.ok(
          (await first.send(makeEvents("jsdup", "protobuf", "still", 1))).ok,
          "the first connection goes on",
        );
      } finally {
        await second?.close();
        await first.close();
      }
    });
  },
);

test(
  "WebSocket: an upgrade from an origin other than the server's is refused with its 403",
  { timeout: 60_000 },
  async () => {
    await withServer({}, async (srv) => {
      const err = await connectWebSocket(srv.wsURL, {
        connId: "js-origin",
        headers: { Origin: "http://elsewhere.example" },
      }).then(
        () => assert.fail("connected from a foreign origin"),
        (e) => e,
      );
      assert.equal(err.kind, ErrorKind.REFUSED, String(err));
      assert.equal(err.httpStatus, 403);
      assert.match(err.reason, /origin/i);
    });
  },
);

test(
  "WebSocket: the server's pings are answered, so an idle connection lives",
  { timeout: 60_000 },
  async () => {
    await withServer(
      { SERVER_WEBSOCKET_PING_INTERVAL_MS: "200", SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS: "500" },
      async (srv) => {
        let disconnects = 0;
        const client = await connectWebSocket(srv.wsURL, { connId: "js-idle" });
        client.on("disconnect", () => disconnects++);
        try {
          assert.ok((await client.send(makeEvents("jsidle", "protobuf", "before", 1))).ok);
          // Idle for many pong waits: only ws's automatic pongs keep it open.
          await new Promise((r) => setTimeout(r, 2500));
          const ack = await client.send(makeEvents("jsidle", "protobuf", "after", 1));
          assert.ok(ack.ok);
          assert.equal(ack.attempts, 1);
          assert.equal(disconnects, 0, "the server closed an idle connection that answered its pings");
        } finally {
          await client.close();
        }
      },
    );
  },
);
