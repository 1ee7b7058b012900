// The test page: the package's browser build (dist/raccoon.browser.js, served
// as /raccoon.browser.js), a WebSocket or REST client per run, every ack shown
// in the list. The test drives it through window.runClient.
import * as raccoon from "/raccoon.browser.js";
import { makeEvents } from "/events.js";

const acks = document.getElementById("acks");

function show(line, kind) {
  const li = document.createElement("li");
  li.textContent = line;
  li.className = kind;
  acks.appendChild(li);
}

/**
 * Opens a client (protocol "websocket" or "rest"), sends `batches` batches of
 * `count` events, and returns every send's outcome.
 */
window.runClient = async ({
  protocol,
  url,
  wire,
  serialization,
  type,
  tag,
  batches,
  count,
  connId,
  retry,
}) => {
  const options = { wireType: wire, serialization, retry, sendTimeoutMs: 20000 };
  if (connId) options.connId = connId;
  let client;
  try {
    client =
      protocol === "websocket"
        ? await raccoon.connectWebSocket(url, options)
        : raccoon.createRestClient(url, options);
  } catch (err) {
    show(`connect failed: ${err.kind}: ${err.message}`, "error");
    return { connectError: { kind: err.kind, message: err.message } };
  }
  client.on("ack", ({ reqGuid, ack, error }) =>
    show(
      ack ? `${reqGuid} acked (${ack.attempts})` : `${reqGuid} failed: ${error.message}`,
      ack ? "ack" : "error",
    ),
  );
  const sends = [];
  for (let b = 0; b < batches; b++)
    sends.push(client.send(makeEvents(raccoon, type, serialization, `${tag}/${b}`, count)));
  const results = [];
  for (const send of sends) {
    try {
      const ack = await send;
      results.push({ reqGuid: send.reqGuid, ok: ack.ok, ackGuid: ack.reqGuid, attempts: ack.attempts });
    } catch (err) {
      results.push({
        reqGuid: send.reqGuid,
        error: { kind: err.kind, code: err.code, reason: err.reason, message: err.message },
      });
    }
  }
  await client.close(5000).catch(() => {});
  return { results };
};

document.getElementById("state").textContent = "ready";
