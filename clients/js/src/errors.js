// The one error type of the package (clients/README.md, section 6).

/** Why a send failed. */
export const ErrorKind = Object.freeze({
  BAD_REQUEST: "bad_request",
  SERVER: "server",
  TRANSPORT: "transport",
  REFUSED: "refused",
  TIMEOUT: "timeout",
  CLOSED: "closed",
  ENCODING: "encoding",
});

const KNOWN = new Set(Object.values(ErrorKind));

export class RaccoonError extends Error {
  /**
   * @param {string} kind one of ErrorKind
   * @param {string} message
   * @param {object} [details] reqGuid, attempts, httpStatus, grpcCode, code, reason, budgetExhausted, cause
   */
  constructor(kind, message, details = {}) {
    if (!KNOWN.has(kind)) throw new TypeError(`unknown error kind ${kind}`);
    super("", details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "RaccoonError";
    this.kind = kind;
    this.reqGuid = details.reqGuid ?? "";
    this.attempts = details.attempts ?? 0;
    this.httpStatus = details.httpStatus ?? 0;
    this.grpcCode = details.grpcCode ?? null;
    this.code = details.code ?? 0;
    this.reason = details.reason ?? "";
    this.budgetExhausted = details.budgetExhausted ?? false;
    this.detail = message;
    this.describe();
  }

  /** Rebuilds the message from the fields (after they change). */
  describe() {
    let m = `raccoon: ${this.kind.replace("_", " ")}`;
    if (this.reqGuid) {
      m += ` (req_guid ${this.reqGuid}`;
      if (this.attempts) m += `, ${this.attempts} attempt${this.attempts > 1 ? "s" : ""}`;
      m += ")";
    }
    if (this.httpStatus) m += `: HTTP ${this.httpStatus}`;
    if (this.grpcCode !== null) m += `: gRPC code ${this.grpcCode}`;
    if (this.code) m += `: code ${this.code}`;
    if (this.reason) m += `: ${this.reason}`;
    if (this.detail && this.detail !== this.reason) m += `: ${this.detail}`;
    if (this.budgetExhausted) m += " (retry budget exhausted)";
    this.message = m;
    return m;
  }

  /** A copy for another send (one failure that ends many sends). */
  copyFor(reqGuid, attempts) {
    const e = new RaccoonError(this.kind, this.detail ?? "", {
      reqGuid,
      attempts,
      httpStatus: this.httpStatus,
      grpcCode: this.grpcCode,
      code: this.code,
      reason: this.reason,
      budgetExhausted: this.budgetExhausted,
      cause: this.cause,
    });
    return e;
  }
}
