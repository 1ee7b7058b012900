// The browser entry point: the native WebSocket and fetch. No gRPC: a
// browser cannot speak it without a proxy. A browser's WebSocket carries no
// headers of the page's choosing (see README.md, "Browsers").
import { ErrorKind, RaccoonError } from "./errors.js";
import { bufferEarlyEvents, connectWith } from "./websocket.js";

export * from "./exports.js";

/** Opens one native WebSocket; a browser does not say why a handshake failed. */
export function browserConnector(url, headers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const ws = new globalThis.WebSocket(url);
    ws.binaryType = "arraybuffer";
    let settled = false;
    const fail = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        ws.close();
      } catch {
        // already closed
      }
      reject(new RaccoonError(ErrorKind.TRANSPORT, why));
    };
    const timer = setTimeout(() => fail(`no WebSocket handshake within ${timeoutMs} ms`), timeoutMs);
    ws.onopen = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      bufferEarlyEvents(ws);
      resolve(ws);
    };
    ws.onerror = () => fail("the WebSocket connection failed");
    ws.onclose = (event) => fail(`the WebSocket closed during the handshake (${event.code})`);
  });
}

/**
 * Connects a WebSocket client to url (ws://host:port/api/v1/events);
 * resolves once the connection is up. Headers (connId, connGroup, headers)
 * cannot be set on a browser's WebSocket and are not sent.
 */
export function connectWebSocket(url, options = {}) {
  return connectWith(options.connector ?? browserConnector, url, options);
}

/** gRPC is not available in browsers. */
export function createGrpcClient() {
  throw new RaccoonError(
    ErrorKind.ENCODING,
    "gRPC is not available in a browser (it needs HTTP/2 trailers); use WebSocket or REST",
  );
}
