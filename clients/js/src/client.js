// The client core shared by every protocol and both runtimes: options,
// send and its promise, the ack stream, the retry loop of the
// request-response protocols, flush and close (clients/README.md).
import { encodeRequest, Serialization, WireType } from "./encoding.js";
import { ErrorKind, RaccoonError } from "./errors.js";
import { backoff, Budget, defaultRetryPolicy, retryable, ackError } from "./retry.js";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** Options with their defaults filled in. */
export function resolveOptions(options = {}) {
  const o = {
    headers: {},
    connId: undefined,
    connIdHeader: "X-User-ID",
    connGroup: undefined,
    connGroupHeader: "X-User-Group",
    wireType: WireType.PROTOBUF,
    serialization: Serialization.PROTOBUF,
    sendTimeoutMs: 30_000,
    attemptTimeoutMs: 10_000,
    dialTimeoutMs: 10_000,
    maxReconnects: 60,
    maxPending: 10_000,
    logger: quiet,
    onAck: undefined,
    onDisconnect: undefined,
    onReconnect: undefined,
    ...options,
  };
  o.retry = { ...defaultRetryPolicy(), ...(options.retry ?? {}) };
  if (o.retry.maxAttempts < 1) o.retry.maxAttempts = 1;
  if (!Object.values(WireType).includes(o.wireType)) {
    throw new RaccoonError(ErrorKind.ENCODING, `unknown wire type ${o.wireType}`);
  }
  if (!Object.values(Serialization).includes(o.serialization)) {
    throw new RaccoonError(ErrorKind.ENCODING, `unknown serialization ${o.serialization}`);
  }
  return o;
}

/** The request headers: the user's, then the connection id and group. */
export function requestHeaders(o) {
  const h = { ...o.headers };
  if (o.connId !== undefined) h[o.connIdHeader] = String(o.connId);
  if (o.connGroup !== undefined) h[o.connGroupHeader] = String(o.connGroup);
  return h;
}

function randomUUID() {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A small event emitter, the same in Node and browsers. */
export class Emitter {
  #listeners = new Map();

  on(event, listener) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(listener);
    return this;
  }

  off(event, listener) {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  once(event, listener) {
    const wrapped = (...args) => {
      this.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped);
  }

  emit(event, ...args) {
    const set = this.#listeners.get(event);
    if (!set) return false;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        this.logger?.warn?.(`raccoon: a ${event} listener threw`, err);
      }
    }
    return true;
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One send in flight. */
export class PendingSend {
  constructor(client, request) {
    this.reqGuid = request.reqGuid;
    this.request = request;
    this.attempts = 0;
    this.done = false;
    this.ack = null;
    this.error = null;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // The failure also goes to the ack stream: a promise nobody awaits must
    // not end the process with an unhandled rejection.
    this.promise.catch(() => {});
    this.timer = setTimeout(() => {
      client.finish(this, null, client.timeoutError(this, this.lastError));
    }, client.options.sendTimeoutMs);
    this.lastError = null;
  }
}

/**
 * The client of one protocol. Made by connectWebSocket, createRestClient or
 * createGrpcClient; events: "ack" ({reqGuid, ack, error}), "disconnect"
 * (error), "reconnect".
 */
export class RaccoonClient extends Emitter {
  constructor(options, transportFactory) {
    super();
    this.options = resolveOptions(options);
    this.logger = this.options.logger;
    this.budget = new Budget(this.options.retry.budgetCapacity);
    this.outstanding = new Set();
    this.closed = false;
    this.transport = transportFactory(this);
  }

  /**
   * Sends one batch and returns at once a promise of its ack, with the
   * request's reqGuid on it (`send(events).reqGuid`). The promise rejects
   * with a RaccoonError. `options.reqGuid` sets the guid (a random UUID v4
   * by default).
   */
  send(events, options = {}) {
    const reqGuid = options.reqGuid ?? randomUUID();
    let request;
    try {
      request = encodeRequest(reqGuid, new Date(), events, this.options.wireType, this.options.serialization);
    } catch (err) {
      return rejected(
        reqGuid,
        err instanceof RaccoonError
          ? err
          : new RaccoonError(ErrorKind.ENCODING, err.message, { reqGuid, cause: err }),
      );
    }
    if (this.closed) {
      return rejected(reqGuid, new RaccoonError(ErrorKind.CLOSED, "the client is closed", { reqGuid }));
    }
    if (this.options.maxPending > 0 && this.outstanding.size >= this.options.maxPending) {
      return rejected(
        reqGuid,
        new RaccoonError(ErrorKind.TRANSPORT, `buffer full: ${this.options.maxPending} sends pending`, {
          reqGuid,
        }),
      );
    }
    const p = new PendingSend(this, request);
    this.outstanding.add(p);
    this.transport.start(p);
    const result = p.promise.then((ack) => ack);
    result.reqGuid = reqGuid;
    result.catch(() => {});
    return result;
  }

  /** How many sends have not finished. */
  get pendingCount() {
    return this.outstanding.size;
  }

  timeoutError(p, last) {
    return new RaccoonError(ErrorKind.TIMEOUT, `no ack within ${this.options.sendTimeoutMs} ms`, {
      reqGuid: p.reqGuid,
      attempts: p.attempts,
      httpStatus: last?.httpStatus,
      grpcCode: last?.grpcCode,
      code: last?.code,
      reason: last?.reason,
      cause: last ?? undefined,
    });
  }

  /** Ends a send once: success with ack, or failure with err. */
  finish(p, ack, err) {
    if (p.done) return;
    p.done = true;
    clearTimeout(p.timer);
    p.abort?.();
    this.outstanding.delete(p);
    this.transport.forget(p);
    if (ack) {
      ack.attempts = p.attempts;
      p.ack = ack;
      this.budget.refund();
      p.resolve(ack);
    } else {
      if (!err.reqGuid) err.reqGuid = p.reqGuid;
      if (!err.attempts) err.attempts = p.attempts;
      err.describe();
      p.error = err;
      p.reject(err);
    }
    const event = { reqGuid: p.reqGuid, ack: p.ack, error: p.error };
    if (this.options.onAck) {
      try {
        this.options.onAck(event);
      } catch (e) {
        this.logger.warn("raccoon: onAck threw", e);
      }
    }
    this.emit("ack", event);
  }

  /**
   * The retry loop of REST and gRPC: attempt(p, signal) resolves to an ack
   * or rejects with a RaccoonError; retried while the policy, the budget and
   * the send timeout allow.
   */
  async runAttempts(p, attempt) {
    const policy = this.options.retry;
    for (;;) {
      const n = ++p.attempts;
      const controller = new AbortController();
      let attemptTimedOut = false;
      const timer = setTimeout(() => {
        attemptTimedOut = true;
        controller.abort();
      }, this.options.attemptTimeoutMs);
      const onDone = () => controller.abort();
      p.abort = onDone;
      let ack = null;
      let err = null;
      try {
        ack = await attempt(p, controller.signal);
      } catch (e) {
        err =
          e instanceof RaccoonError
            ? e
            : new RaccoonError(ErrorKind.TRANSPORT, e?.message ?? String(e), { cause: e });
      } finally {
        clearTimeout(timer);
        p.abort = null;
      }
      if (p.done) return;
      if (!err) {
        if (ack.ok) {
          this.finish(p, ack, null);
          return;
        }
        err = ackError(ack);
      }
      if (attemptTimedOut && err.kind !== ErrorKind.BAD_REQUEST) {
        err.kind = ErrorKind.TRANSPORT;
        err.detail = `no answer within ${this.options.attemptTimeoutMs} ms`;
      }
      err.reqGuid = p.reqGuid;
      err.attempts = n;
      p.lastError = err;
      if (!retryable(err) || n >= policy.maxAttempts) {
        this.finish(p, null, err);
        return;
      }
      if (!this.budget.take(attemptTimedOut ? policy.timeoutCost : policy.retryCost)) {
        err.budgetExhausted = true;
        this.finish(p, null, err);
        return;
      }
      const wait = backoff(policy, n + 1);
      this.logger.debug(
        `raccoon: retrying ${p.reqGuid} (attempt ${n + 1}) in ${Math.round(wait)} ms: ${err.message}`,
      );
      await sleep(wait);
      if (p.done) return;
    }
  }

  /**
   * Waits until every send made before it finished; rejects naming how many
   * are still pending when timeoutMs passes first.
   */
  async flush(timeoutMs = 10_000) {
    const pending = [...this.outstanding];
    if (pending.length === 0) return;
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, timeoutMs, "timeout");
    });
    const all = Promise.allSettled(pending.map((p) => p.promise));
    const outcome = await Promise.race([all, timeout]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      const left = pending.filter((p) => !p.done).length;
      throw new RaccoonError(ErrorKind.TIMEOUT, `flush: ${left} sends still pending after ${timeoutMs} ms`);
    }
  }

  /**
   * Refuses new sends, flushes up to timeoutMs, fails what is still pending
   * with a closed error and closes the connection.
   */
  async close(timeoutMs = 10_000) {
    if (this.closed) return;
    this.closed = true;
    let flushError = null;
    try {
      await this.flush(timeoutMs);
    } catch (err) {
      flushError = err;
    }
    for (const p of [...this.outstanding]) {
      this.finish(
        p,
        null,
        new RaccoonError(ErrorKind.CLOSED, "the client was closed before the ack", { reqGuid: p.reqGuid }),
      );
    }
    await this.transport.close();
    if (flushError) throw flushError;
  }
}

function rejected(reqGuid, err) {
  const promise = Promise.reject(err);
  promise.catch(() => {});
  promise.reqGuid = reqGuid;
  return promise;
}
