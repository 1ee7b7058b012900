// The Node entry point: WebSocket by `ws` (with the connection id and group
// headers), REST by fetch, gRPC by @grpc/grpc-js.
import WebSocket from "ws";
import { ErrorKind, RaccoonError } from "./errors.js";
import { bufferEarlyEvents, connectWith } from "./websocket.js";

export * from "./exports.js";
export { createGrpcClient } from "./grpc.js";

const MAX_ACK_BYTES = 1 << 20;

/** Opens one `ws` connection; an HTTP 4xx (but 429) answer is a refusal. */
export function nodeConnector(url, headers, timeoutMs) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, maxPayload: MAX_ACK_BYTES });
    ws.binaryType = "arraybuffer";
    ws.on("unexpected-response", (req, res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      const done = () => {
        if (settled) return;
        settled = true;
        const status = res.statusCode;
        const kind =
          status >= 400 && status < 500 && status !== 429 ? ErrorKind.REFUSED : ErrorKind.TRANSPORT;
        reject(
          new RaccoonError(kind, "the server did not upgrade the connection", {
            httpStatus: status,
            reason: Buffer.concat(chunks).toString("utf8").trim().slice(0, 200),
          }),
        );
        req.destroy();
      };
      res.on("end", done);
      res.on("error", done);
      setTimeout(done, 1000).unref();
    });
    ws.once("open", () => {
      if (settled) return;
      settled = true;
      bufferEarlyEvents(ws);
      resolve(ws);
    });
    ws.once("error", (err) => {
      if (settled) return;
      settled = true;
      reject(new RaccoonError(ErrorKind.TRANSPORT, err.message, { cause: err }));
    });
  });
}

/**
 * Connects a WebSocket client to url (ws://host:port/api/v1/events) with the
 * connection id and group headers; resolves once the connection is up.
 */
export function connectWebSocket(url, options = {}) {
  return connectWith(options.connector ?? nodeConnector, url, options);
}
