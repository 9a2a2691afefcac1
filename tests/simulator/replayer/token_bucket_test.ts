/** The token bucket's schedule under an injected clock: waits, debt, idle capacity. */
import assert from "node:assert/strict";
import { TokenBucket } from "../../../simulator/replayer/token_bucket.ts";

function clock() {
  let now = 1000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

Deno.test("a batch waits until the bucket has earned it; the bucket starts empty", () => {
  const time = clock();
  const bucket = new TokenBucket({ rate: 100, capacity: 10, now: time.now });
  assert.equal(bucket.reserve(10), 100);
  time.advance(100);
  assert.equal(bucket.reserve(10), 100);
  time.advance(50);
  assert.equal(bucket.reserve(5), 100);
});

Deno.test("following the returned waits never spends more than rate x elapsed", () => {
  const time = clock();
  const start = time.now();
  const rate = 250;
  const bucket = new TokenBucket({ rate, capacity: 25, now: time.now });
  let spent = 0;
  for (let i = 0; i < 1000; i++) {
    const batch = 1 + (i * 7919) % 40;
    const wait = bucket.reserve(batch);
    time.advance(wait);
    spent += batch;
    const elapsed = (time.now() - start) / 1000;
    assert.ok(spent <= rate * elapsed + 1e-6, `spent ${spent} after ${elapsed}s`);
    time.advance((i * 31) % 13);
  }
  const elapsed = (time.now() - start) / 1000;
  assert.ok(spent / elapsed > rate * 0.9, `average ${spent / elapsed} far below the rate`);
});

Deno.test("an idle pause earns at most the capacity", () => {
  const time = clock();
  const bucket = new TokenBucket({ rate: 10, capacity: 5, now: time.now });
  time.advance(60_000);
  assert.equal(bucket.reserve(5), 0);
  assert.equal(bucket.reserve(1), 100);
});

Deno.test("invalid rates and capacities are refused", () => {
  assert.throws(() => new TokenBucket({ rate: 0, capacity: 1 }), /rate must be a positive number/);
  assert.throws(() => new TokenBucket({ rate: 5, capacity: 0 }), /capacity must be at least 1/);
});
