// Retries (clients/README.md, section 4): capped exponential backoff with
// full jitter, a maximum number of attempts, a retry budget per client.
import { Code, Status } from "./encoding.js";
import { ErrorKind, RaccoonError } from "./errors.js";

/** The policy of a client made without the retry option. */
export function defaultRetryPolicy() {
  return {
    maxAttempts: 5,
    initialBackoffMs: 100,
    maxBackoffMs: 5000,
    multiplier: 2,
    budgetCapacity: 100,
    retryCost: 5,
    timeoutCost: 10,
  };
}

/** The upper bound of the sleep before attempt n (n >= 2). */
export function backoffCap(policy, attempt) {
  if (attempt < 2) return 0;
  const b = policy.initialBackoffMs * Math.pow(policy.multiplier, attempt - 2);
  return Number.isFinite(b) && b < policy.maxBackoffMs ? b : policy.maxBackoffMs;
}

/** The sleep before attempt n with full jitter; random() is in [0, 1). */
export function backoff(policy, attempt, random = Math.random) {
  return random() * backoffCap(policy, attempt);
}

/** The retry token bucket. */
export class Budget {
  constructor(capacity) {
    this.capacity = capacity;
    this.tokens = capacity;
  }

  /** Whether a retry costing cost tokens may go (and takes them). */
  take(cost) {
    if (this.capacity <= 0) return true;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  refund() {
    if (this.tokens < this.capacity) this.tokens++;
  }
}

/** REST: 429 and every 5xx are retried. */
export function retryableHttpStatus(status) {
  return status === 429 || (status >= 500 && status <= 599);
}

/** gRPC status codes: UNAVAILABLE 14, RESOURCE_EXHAUSTED 8, DEADLINE_EXCEEDED 4. */
export const GrpcStatus = Object.freeze({
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNAVAILABLE: 14,
});

export function retryableGrpcCode(code) {
  return (
    code === GrpcStatus.UNAVAILABLE ||
    code === GrpcStatus.RESOURCE_EXHAUSTED ||
    code === GrpcStatus.DEADLINE_EXCEEDED
  );
}

/** An ack with STATUS_ERROR and CODE_INTERNAL_ERROR: the broker failed. */
export function retryableAck(ack) {
  return ack.status === Status.ERROR && ack.code === Code.INTERNAL_ERROR;
}

/** The error a failed ack means. */
export function ackError(ack) {
  const kind = retryableAck(ack) ? ErrorKind.SERVER : ErrorKind.BAD_REQUEST;
  return new RaccoonError(kind, "", { reqGuid: ack.reqGuid, code: ack.code, reason: ack.reason });
}

/** Whether the failure of an attempt may be retried. */
export function retryable(err) {
  return err.kind === ErrorKind.SERVER || err.kind === ErrorKind.TRANSPORT;
}
