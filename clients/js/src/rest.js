// REST: POST each batch to /api/v1/events with fetch (Node 20 and browsers).
import { decodeAck } from "./encoding.js";
import { ErrorKind, RaccoonError } from "./errors.js";
import { RaccoonClient, requestHeaders } from "./client.js";
import { retryableHttpStatus } from "./retry.js";

const CONTENT_TYPES = { protobuf: "application/proto", json: "application/json" };

/**
 * A client that POSTs each batch to url (http://host:port/api/v1/events).
 * options.fetch replaces the global fetch.
 */
export function createRestClient(url, options = {}) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new RaccoonError(ErrorKind.ENCODING, `REST needs an http:// or https:// URL, got ${url}`);
  }
  return new RaccoonClient(options, (client) => new RestTransport(client, parsed.href));
}

class RestTransport {
  constructor(client, url) {
    this.client = client;
    this.url = url;
    this.fetch = client.options.fetch ?? globalThis.fetch.bind(globalThis);
    this.headers = requestHeaders(client.options);
  }

  start(p) {
    this.client.runAttempts(p, (pending, signal) => this.attempt(pending, signal));
  }

  async attempt(p, signal) {
    const { wire, body } = p.request;
    let resp;
    try {
      resp = await this.fetch(this.url, {
        method: "POST",
        headers: { ...this.headers, "Content-Type": CONTENT_TYPES[wire] },
        body,
        signal,
      });
    } catch (err) {
      throw new RaccoonError(ErrorKind.TRANSPORT, err?.message ?? String(err), { cause: err });
    }
    let bytes;
    try {
      bytes = new Uint8Array(await resp.arrayBuffer());
    } catch (err) {
      throw new RaccoonError(ErrorKind.TRANSPORT, err?.message ?? String(err), {
        httpStatus: resp.status,
        cause: err,
      });
    }
    let ack = null;
    let decodeError = null;
    try {
      ack = decodeAck(bytes, wire);
    } catch (err) {
      decodeError = err;
    }
    if (resp.status === 200) {
      if (decodeError) {
        throw new RaccoonError(ErrorKind.SERVER, `undecodable ack: ${decodeError.message}`, {
          httpStatus: 200,
          cause: decodeError,
        });
      }
      if (ack.reqGuid !== p.reqGuid) {
        this.client.logger.warn(`raccoon: REST ack names ${ack.reqGuid}, sent ${p.reqGuid}`);
      }
      return ack;
    }
    const kind = retryableHttpStatus(resp.status) ? ErrorKind.SERVER : ErrorKind.BAD_REQUEST;
    const details = { httpStatus: resp.status };
    if (ack) {
      details.code = ack.code;
      details.reason = ack.reason;
    } else {
      details.reason = new TextDecoder().decode(bytes.subarray(0, 200)).trim();
    }
    throw new RaccoonError(kind, "", details);
  }

  forget() {}

  async close() {}
}
