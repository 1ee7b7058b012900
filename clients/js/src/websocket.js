// WebSocket: one connection, sends written in order, acks matched by
// req_guid, reconnects with backoff that re-send what was not acked, and
// the server's refusal recognised (clients/README.md, section 5). The
// runtime gives the connector: `ws` in Node, the native WebSocket in browsers.
import { Code, decodeAck, Status, WireType } from "./encoding.js";
import { ErrorKind, RaccoonError } from "./errors.js";
import { RaccoonClient, requestHeaders } from "./client.js";
import { ackError, backoff, retryable } from "./retry.js";

const OPEN = 1;

/**
 * Opens the client's connection and resolves to the client once it is up;
 * rejects with a RaccoonError (kind "refused" for an HTTP 4xx answer to the
 * upgrade, "transport" otherwise).
 *
 * connector(url, headers, timeoutMs) resolves to an open socket with
 * send, close, readyState and onmessage/onclose handlers.
 */
export async function connectWith(connector, url, options = {}) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== "ws:" && parsed.protocol !== "wss:")) {
    throw new RaccoonError(ErrorKind.ENCODING, `WebSocket needs a ws:// or wss:// URL, got ${url}`);
  }
  let transport;
  const client = new RaccoonClient(options, (c) => {
    transport = new WebSocketTransport(c, connector, parsed.href);
    return transport;
  });
  const socket = await transport.dial();
  transport.attach(socket);
  return client;
}

/**
 * Keeps what a just-opened socket receives before the client takes it over
 * (a refusal arrives right after the upgrade, often in the same packet).
 */
export function bufferEarlyEvents(socket) {
  const early = [];
  socket.onmessage = (event) => early.push(["message", event]);
  socket.onclose = (event) => early.push(["close", event]);
  socket.onerror = () => {};
  socket.earlyEvents = early;
}

class WebSocketTransport {
  constructor(client, connector, url) {
    this.client = client;
    this.connector = connector;
    this.url = url;
    this.headers = requestHeaders(client.options);
    this.socket = null;
    this.gen = 0;
    this.seq = 0;
    this.inflight = new Map();
    this.refused = null;
    this.dead = null;
    this.closing = false;
    this.closedPromise = null;
    this.reconnecting = false;
    this.backoffTimer = null;
    this.wakeBackoff = null;
  }

  /** The reconnect back-off: a sleep that close() cuts short. */
  backoffSleep(ms) {
    return new Promise((resolve) => {
      this.wakeBackoff = resolve;
      this.backoffTimer = setTimeout(resolve, ms);
    }).finally(() => {
      this.backoffTimer = null;
      this.wakeBackoff = null;
    });
  }

  async dial() {
    try {
      return await this.connector(this.url, this.headers, this.client.options.dialTimeoutMs);
    } catch (err) {
      if (err instanceof RaccoonError) throw err;
      throw new RaccoonError(ErrorKind.TRANSPORT, err?.message ?? String(err), { cause: err });
    }
  }

  /** Makes socket the current connection and writes, in send order, every unacked request. */
  attach(socket) {
    this.socket = socket;
    const gen = ++this.gen;
    socket.onmessage = (event) => this.onMessage(socket, event.data);
    let closedResolve;
    this.closedPromise = new Promise((resolve) => {
      closedResolve = resolve;
    });
    socket.onclose = (event) => {
      closedResolve();
      this.onClose(socket, event);
    };
    socket.onerror = () => {};
    const early = socket.earlyEvents ?? [];
    socket.earlyEvents = null;
    for (const [type, event] of early) {
      if (type === "message") socket.onmessage(event);
      else socket.onclose(event);
    }
    if (this.socket !== socket) return;
    const due = [...this.inflight.values()].filter((s) => s.gen !== gen).sort((a, b) => a.seq - b.seq);
    for (const s of due) {
      s.gen = 0;
      this.write(s);
    }
  }

  start(p) {
    if (this.refused || this.dead) {
      this.client.finish(p, null, (this.refused ?? this.dead).copyFor(p.reqGuid, 0));
      return;
    }
    const s = { p, seq: ++this.seq, gen: 0, timer: null, last: null };
    this.inflight.set(p.reqGuid, s);
    this.write(s);
  }

  /** Sends s on the current connection as one more attempt. */
  write(s) {
    const { p } = s;
    if (p.done) return;
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return; // the next connection sends it
    const policy = this.client.options.retry;
    if (p.attempts >= policy.maxAttempts) {
      this.client.finish(
        p,
        null,
        s.last ?? new RaccoonError(ErrorKind.TRANSPORT, "connection lost before the ack"),
      );
      return;
    }
    try {
      socket.send(p.request.body);
    } catch (err) {
      s.last = new RaccoonError(ErrorKind.TRANSPORT, err?.message ?? String(err), { cause: err });
      this.client.logger.debug(`raccoon: write of ${p.reqGuid} failed: ${err}`);
      return;
    }
    p.attempts++;
    s.gen = this.gen;
    clearTimeout(s.timer);
    const gen = this.gen;
    s.timer = setTimeout(() => this.attemptTimedOut(s, gen), this.client.options.attemptTimeoutMs);
  }

  attemptTimedOut(s, gen) {
    if (this.inflight.get(s.p.reqGuid) === s && s.gen === gen) {
      this.retryLater(
        s,
        new RaccoonError(ErrorKind.TRANSPORT, `no ack within ${this.client.options.attemptTimeoutMs} ms`),
        this.client.options.retry.timeoutCost,
      );
    }
  }

  /** Re-sends s after a backoff, if attempts and budget allow. */
  retryLater(s, err, cost) {
    const { p } = s;
    const policy = this.client.options.retry;
    p.lastError = err;
    if (p.attempts >= policy.maxAttempts) {
      this.client.finish(p, null, err);
      return;
    }
    if (!this.client.budget.take(cost)) {
      err.budgetExhausted = true;
      this.client.finish(p, null, err);
      return;
    }
    s.last = err;
    s.gen = 0;
    clearTimeout(s.timer);
    s.timer = setTimeout(
      () => {
        if (this.inflight.get(p.reqGuid) === s && s.gen === 0) this.write(s);
      },
      backoff(policy, p.attempts + 1),
    );
  }

  onMessage(socket, data) {
    if (socket !== this.socket) return;
    const wire = typeof data === "string" ? WireType.JSON : WireType.PROTOBUF;
    let ack;
    try {
      ack = decodeAck(data, wire);
    } catch (err) {
      this.client.logger.warn(`raccoon: undecodable message from the server: ${err.message}`);
      return;
    }
    if (
      ack.reqGuid === "" &&
      ack.status === Status.ERROR &&
      (ack.code === Code.MAX_USER_LIMIT_REACHED || ack.code === Code.MAX_CONNECTION_LIMIT_REACHED)
    ) {
      this.failAll(
        new RaccoonError(ErrorKind.REFUSED, "the server refused the connection", {
          code: ack.code,
          reason: ack.reason,
        }),
        true,
      );
      return;
    }
    const s = this.inflight.get(ack.reqGuid);
    if (!s) {
      this.client.logger.debug(`raccoon: ack for no pending send: ${ack.reqGuid}`);
      return;
    }
    if (ack.ok) {
      this.client.finish(s.p, ack, null);
      return;
    }
    const err = ackError(ack);
    if (!retryable(err)) {
      this.client.finish(s.p, null, err);
      return;
    }
    this.retryLater(s, err, this.client.options.retry.retryCost);
  }

  onClose(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    const error =
      this.refused ??
      new RaccoonError(
        ErrorKind.TRANSPORT,
        `connection closed (${event?.code ?? "?"} ${event?.reason ?? ""})`.trim(),
      );
    this.client.options.onDisconnect?.(error);
    this.client.emit("disconnect", error);
    if (this.closing || this.refused) return;
    this.client.logger.info(`raccoon: WebSocket dropped (${error.message}); reconnecting`);
    this.reconnect(error);
  }

  async reconnect(cause) {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      const { maxReconnects, retry } = this.client.options;
      let last = null;
      for (let n = 1; maxReconnects < 0 || n <= maxReconnects; n++) {
        await this.backoffSleep(backoff(retry, n + 1));
        if (this.closing) return;
        try {
          const socket = await this.dial();
          if (this.closing) {
            socket.close(1000);
            return;
          }
          this.attach(socket);
          this.client.options.onReconnect?.();
          this.client.emit("reconnect");
          return;
        } catch (err) {
          last = err;
          this.client.logger.debug(`raccoon: reconnect ${n} failed: ${err.message}`);
          if (err.kind === ErrorKind.REFUSED) {
            this.failAll(err, true);
            return;
          }
        }
      }
      const err = last ?? cause;
      err.detail = `gave up reconnecting: ${err.detail || err.reason || ""}`;
      this.failAll(err, false);
    } finally {
      this.reconnecting = false;
    }
  }

  /** Ends every unacked send with err, and every later one too. */
  failAll(err, refused) {
    if (refused) this.refused = err;
    else this.dead = err;
    for (const s of [...this.inflight.values()]) {
      this.client.finish(s.p, null, err.copyFor(s.p.reqGuid, s.p.attempts));
    }
  }

  forget(p) {
    const s = this.inflight.get(p.reqGuid);
    if (s && s.p === p) {
      this.inflight.delete(p.reqGuid);
      clearTimeout(s.timer);
    }
  }

  async close() {
    this.closing = true;
    clearTimeout(this.backoffTimer);
    this.wakeBackoff?.();
    const socket = this.socket;
    if (socket && socket.readyState === OPEN) {
      socket.close(1000);
      let timer;
      await Promise.race([this.closedPromise, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    }
  }
}
