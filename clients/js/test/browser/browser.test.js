// The browser build in a real browser: Debian's Chromium, headless, driven by
// playwright-core, loads a page served from 127.0.0.1 that imports
// dist/raccoon.browser.js (npm run build), and sends through the real server
// into the real Kafka: WebSocket and REST, each with both wire types and both
// serializations (8; no gRPC in a browser). REST goes through the server's
// CORS: the allowed origin's sends are acked, a disallowed origin's are
// refused by the browser and never reach Kafka.
//
// A browser's WebSocket sends no header the page chooses, so the server takes
// the connection id from the Cookie header here (SERVER_WEBSOCKET_CONN_ID_HEADER),
// and the page's origin is not the server's (SERVER_WEBSOCKET_CHECK_ORIGIN off).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import * as raccoon from "../../src/node.js";
import { Server, assertTopicHolds, readTopic, HOST } from "../helpers/server.js";
import { makeEvents } from "./page/events.js";

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.RACCOON_CHROMIUM ?? "/usr/bin/chromium";
const BATCHES = 3;
const COUNT = 3;

const FILES = {
  "/": ["page/index.html", "text/html"],
  "/page.js": ["page/page.js", "text/javascript"],
  "/events.js": ["page/events.js", "text/javascript"],
  "/raccoon.browser.js": ["../../dist/raccoon.browser.js", "text/javascript"],
};

/** Serves the page on a free 127.0.0.1 port; resolves to its origin. */
function servePage() {
  const server = http.createServer((req, res) => {
    const file = FILES[new URL(req.url, "http://x").pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": file[1], "Cache-Control": "no-store" });
    res.end(readFileSync(join(here, file[0])));
  });
  return new Promise((resolve) =>
    server.listen(0, HOST, () => resolve({ server, origin: `http://${HOST}:${server.address().port}` })),
  );
}

let browser;
let userDataDir;
const pages = [];
let wsServer;
let corsServer;
let originServer;
let allowed;
let disallowed;

before(async () => {
  allowed = await servePage();
  disallowed = await servePage();
  [wsServer, corsServer, originServer] = await Promise.all([
    Server.start({ SERVER_WEBSOCKET_CONN_ID_HEADER: "Cookie", SERVER_WEBSOCKET_CHECK_ORIGIN: "false" }),
    Server.start({ SERVER_CORS_ENABLED: "true", SERVER_CORS_ALLOWED_ORIGIN: allowed.origin }),
    // Upstream's default: a page's Origin must name the server's own host and port.
    Server.start({ SERVER_WEBSOCKET_CONN_ID_HEADER: "Cookie" }),
  ]);
  userDataDir = mkdtempSync(join(tmpdir(), "raccoon-chromium-"));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  allowed?.server.close();
  disallowed?.server.close();
  for (const srv of [wsServer, corsServer, originServer]) {
    const code = await srv?.stop();
    assert.equal(code, 0, `raccoon exited with ${code}:\n${srv?.stderr()}`);
  }
});

/** Opens the page at origin; console lines are collected in page.consoleLines. */
async function openPage(origin) {
  const page = await browser.newPage();
  page.consoleLines = [];
  page.on("console", (m) => page.consoleLines.push(m.text()));
  page.on("pageerror", (e) => page.consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(`${origin}/`, { timeout: 20_000 });
  await page.waitForFunction(() => document.getElementById("state").textContent === "ready", null, {
    timeout: 20_000,
  });
  pages.push(page);
  return page;
}

/** What Kafka must hold for the page's events. */
function expected(type, serialization, tag) {
  const want = [];
  for (let b = 0; b < BATCHES; b++) {
    for (const e of makeEvents(raccoon, type, serialization, `${tag}/${b}`, COUNT)) {
      want.push(raccoon.serialize(e.data, serialization));
    }
  }
  return want;
}

function assertAllAcked(out) {
  assert.ok(!out.connectError, `connect: ${JSON.stringify(out.connectError)}`);
  assert.equal(out.results.length, BATCHES);
  for (const r of out.results) {
    assert.ok(r.ok, `send ${JSON.stringify(r)}`);
    assert.equal(r.ackGuid, r.reqGuid);
    assert.equal(r.attempts, 1);
  }
}

const combos = [];
for (const wire of ["protobuf", "json"]) for (const ser of ["protobuf", "json"]) combos.push({ wire, ser });

combos.forEach(({ wire, ser }, i) => {
  test(`browser WebSocket: ${wire} wire, ${ser} data`, { timeout: 90_000 }, async () => {
    const page = await openPage(allowed.origin);
    // The connection id: the page's cookie, one per connection.
    await page.evaluate((id) => (document.cookie = `raccoon_user=${id}; path=/`), `browser-ws-${i}`);
    const type = `jsbrowserws${i}`;
    const tag = `ws-${wire}-${ser}`;
    const out = await page.evaluate((args) => window.runClient(args), {
      protocol: "websocket",
      url: wsServer.wsURL,
      wire,
      serialization: ser,
      type,
      tag,
      batches: BATCHES,
      count: COUNT,
    });
    assertAllAcked(out);
    // The page shows the acks.
    const shown = await page.locator("#acks li.ack").allTextContents();
    for (const r of out.results)
      assert.ok(
        shown.some((line) => line.startsWith(`${r.reqGuid} acked`)),
        shown.join("\n"),
      );
    await assertTopicHolds(wsServer.topic(type), expected(type, ser, tag), true);
    await page.close();
  });
});

test(
  "browser WebSocket: a second connection with the same id is refused (the server's message and 1008)",
  { timeout: 60_000 },
  async () => {
    const page = await openPage(allowed.origin);
    await page.evaluate(() => (document.cookie = "raccoon_user=browser-dup; path=/"));
    const out = await page.evaluate(async (url) => {
      const r = await import("/raccoon.browser.js");
      const first = await r.connectWebSocket(url, {});
      const second = await r.connectWebSocket(url, { retry: { initialBackoffMs: 10, maxBackoffMs: 50 } });
      const firstAck = await first.send([{ type: "jsbrowserdup", data: new Uint8Array([1]) }]);
      const refusal = await second.send([{ type: "jsbrowserdup", data: new Uint8Array([2]) }]).then(
        () => null,
        (e) => ({ kind: e.kind, code: e.code, reason: e.reason }),
      );
      await second.close(1000);
      await first.close(1000);
      return { firstOk: firstAck.ok, refusal };
    }, wsServer.wsURL);
    assert.ok(out.firstOk);
    assert.equal(out.refusal?.kind, "refused", JSON.stringify(out));
    assert.equal(out.refusal.code, raccoon.Code.MAX_USER_LIMIT_REACHED);
    assert.ok(out.refusal.reason.length > 0);
    await page.close();
  },
);

combos.forEach(({ wire, ser }, i) => {
  test(
    `browser REST from an allowed origin (CORS): ${wire} wire, ${ser} data`,
    { timeout: 90_000 },
    async () => {
      const page = await openPage(allowed.origin);
      const type = `jsbrowserrest${i}`;
      const tag = `rest-${wire}-${ser}`;
      const out = await page.evaluate((args) => window.runClient(args), {
        protocol: "rest",
        url: corsServer.restURL,
        wire,
        serialization: ser,
        type,
        tag,
        batches: BATCHES,
        count: COUNT,
        // A header of the allowed set: the request is preflighted.
        connId: `browser-rest-${i}`,
      });
      assertAllAcked(out);
      const shown = await page.locator("#acks li.ack").allTextContents();
      assert.equal(shown.length, BATCHES, shown.join("\n"));
      await assertTopicHolds(corsServer.topic(type), expected(type, ser, tag), true);
      await page.close();
    },
  );
});

test(
  "browser REST from a disallowed origin: the browser refuses it and nothing reaches Kafka",
  { timeout: 90_000 },
  async () => {
    const page = await openPage(disallowed.origin);
    const type = "jsbrowserdisallowed";
    const out = await page.evaluate((args) => window.runClient(args), {
      protocol: "rest",
      url: corsServer.restURL,
      wire: "json",
      serialization: "json",
      type,
      tag: "disallowed",
      batches: 1,
      count: 2,
      retry: { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 50 },
    });
    assert.equal(out.results.length, 1);
    const r = out.results[0];
    // fetch fails as on a network error: the client sees a transport error.
    assert.equal(r.error?.kind, "transport", JSON.stringify(r));
    assert.ok(
      page.consoleLines.some((line) => /CORS policy/.test(line)),
      `the browser's CORS refusal in the console:\n${page.consoleLines.join("\n")}`,
    );
    // The allowed origin's send to the same server still works, and the
    // disallowed one's events are not in Kafka.
    const check = await openPage(allowed.origin);
    const ok = await check.evaluate((args) => window.runClient(args), {
      protocol: "rest",
      url: corsServer.restURL,
      wire: "json",
      serialization: "json",
      type: "jsbrowserallowedafter",
      tag: "allowed",
      batches: 1,
      count: 1,
    });
    assert.ok(ok.results[0].ok, JSON.stringify(ok));
    await readTopic(corsServer.topic("jsbrowserallowedafter"), 1);
    const leaked = await readTopic(corsServer.topic(type), 0, 1000).catch(() => []);
    assert.equal(leaked.length, 0, "a refused origin's events reached Kafka");
    await page.close();
    await check.close();
  },
);

test(
  "browser WebSocket from another origin, with the server's origin check on: the handshake fails",
  { timeout: 60_000 },
  async () => {
    const page = await openPage(allowed.origin);
    await page.evaluate(() => (document.cookie = "raccoon_user=browser-origin; path=/"));
    const out = await page.evaluate((args) => window.runClient(args), {
      protocol: "websocket",
      url: originServer.wsURL,
      wire: "protobuf",
      serialization: "protobuf",
      type: "jsbrowserorigin",
      tag: "origin",
      batches: 1,
      count: 1,
    });
    // The server answers 403; a browser tells the page only that the connection failed.
    assert.equal(out.connectError?.kind, "transport", JSON.stringify(out));
    assert.ok(
      (await page.locator("#acks li.error").allTextContents()).some((l) => l.startsWith("connect failed")),
    );
    await page.close();
  },
);
