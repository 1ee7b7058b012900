// Retry decisions, backoff bounds and jitter, the budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  backoff,
  backoffCap,
  Budget,
  defaultRetryPolicy,
  retryable,
  retryableAck,
  retryableGrpcCode,
  retryableHttpStatus,
  ackError,
} from "../../src/retry.js";
import { RaccoonError } from "../../src/errors.js";

test("defaults as clients/README.md says", () => {
  assert.deepEqual(defaultRetryPolicy(), {
    maxAttempts: 5,
    initialBackoffMs: 100,
    maxBackoffMs: 5000,
    multiplier: 2,
    budgetCapacity: 100,
    retryCost: 5,
    timeoutCost: 10,
  });
});

test("capped exponential backoff", () => {
  const p = defaultRetryPolicy();
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 100].map((n) => backoffCap(p, n)),
    [0, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000],
  );
  assert.equal(backoffCap({ ...p, multiplier: 1e308 }, 10), 5000);
});

test("full jitter: uniformly in [0, cap)", () => {
  const p = defaultRetryPolicy();
  assert.equal(
    backoff(p, 4, () => 0),
    0,
  );
  assert.equal(
    backoff(p, 4, () => 0.5),
    200,
  );
  let min = Infinity;
  let max = 0;
  for (let i = 0; i < 2000; i++) {
    const b = backoff(p, 4);
    min = Math.min(min, b);
    max = Math.max(max, b);
  }
  assert.ok(min >= 0 && min < 40, `min ${min}`);
  assert.ok(max < 400 && max > 360, `max ${max}`);
});

test("the budget: retries take tokens, successes give one back, an empty bucket refuses", () => {
  const b = new Budget(12);
  assert.ok(b.take(5));
  assert.ok(b.take(5));
  assert.ok(!b.take(5));
  assert.equal(b.tokens, 2);
  for (let i = 0; i < 20; i++) b.refund();
  assert.equal(b.tokens, 12);
  assert.ok(new Budget(0).take(1000), "capacity 0 disables the budget");
});

test("what is retried", () => {
  assert.deepEqual([200, 400, 401, 403, 404, 413, 429, 500, 502, 503, 504, 599].map(retryableHttpStatus), [
    false,
    false,
    false,
    false,
    false,
    false,
    true,
    true,
    true,
    true,
    true,
    true,
  ]);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 8, 13, 14, 16].map(retryableGrpcCode), [
    false,
    false,
    false,
    false,
    true,
    false,
    true,
    false,
    true,
    false,
  ]);
  assert.ok(retryableAck({ status: 2, code: 3 }));
  assert.ok(!retryableAck({ status: 2, code: 2 }));
  assert.equal(ackError({ status: 2, code: 3, reqGuid: "g", reason: "broker" }).kind, "server");
  assert.equal(ackError({ status: 2, code: 2, reqGuid: "g", reason: "bad" }).kind, "bad_request");
  for (const kind of ["server", "transport"]) assert.ok(retryable(new RaccoonError(kind, "")));
  for (const kind of ["bad_request", "refused", "timeout", "closed", "encoding"])
    assert.ok(!retryable(new RaccoonError(kind, "")));
});

test("errors say what happened", () => {
  const e = new RaccoonError("bad_request", "", {
    reqGuid: "g",
    attempts: 1,
    httpStatus: 400,
    code: 2,
    reason: "events[0] is null",
  });
  assert.equal(
    e.message,
    "raccoon: bad request (req_guid g, 1 attempt): HTTP 400: code 2: events[0] is null",
  );
  assert.throws(() => new RaccoonError("nope", ""), TypeError);
});
