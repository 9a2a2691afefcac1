import assert from "node:assert/strict";
import { RateWindow } from "../../../core/metrics/rates.ts";

/**
 * The simulator's default stream: an observation of 100 alerts every 5 s (20 alerts/s),
 * each archived a second after it arrived, sampled once a second.
 */
function burstyCounters(seconds: number, phaseMs: number) {
  const samples = [];
  for (let s = 0; s <= seconds; s++) {
    const t = s * 1000 + phaseMs;
    const received = 100 * (Math.floor(t / 5000) + 1);
    const out = t < 1000 ? 0 : 100 * (Math.floor((t - 1000) / 5000) + 1);
    samples.push({ t, received, out, bytesIn: received * 100_000 });
  }
  return samples;
}

Deno.test("in and out agree within 10 % on bursts every 5 s, whatever the phase", () => {
  for (let phaseMs = 0; phaseMs < 5000; phaseMs += 250) {
    const window = new RateWindow();
    for (const [i, sample] of burstyCounters(200, phaseMs).entries()) {
      window.add(sample);
      if (i < 60) continue;
      const r = window.rates();
      assert.equal(r.windowSeconds, 60);
      assert.ok(
        Math.abs(r.inPerSecond - 20) <= 2 && Math.abs(r.outPerSecond - 20) <= 2 &&
          Math.abs(r.inPerSecond - r.outPerSecond) <= 0.1 * r.inPerSecond,
        `phase ${phaseMs} ms, sample ${i}: in ${r.inPerSecond}, out ${r.outPerSecond}`,
      );
      assert.equal(r.mbInPerSecond, r.inPerSecond / 10);
    }
  }
});

Deno.test("the rates grow their window from the first sample and start afresh when counters reset", () => {
  const window = new RateWindow(60);
  assert.deepEqual(window.rates(), {
    inPerSecond: 0,
    outPerSecond: 0,
    mbInPerSecond: 0,
    windowSeconds: 0,
  });
  window.add({ t: 0, received: 0, out: 0, bytesIn: 0 });
  window.add({ t: 2000, received: 40, out: 20, bytesIn: 4e6 });
  assert.deepEqual(window.rates(), {
    inPerSecond: 20,
    outPerSecond: 10,
    mbInPerSecond: 2,
    windowSeconds: 2,
  });
  // The archive restarted: its counters start again from zero.
  window.add({ t: 3000, received: 5, out: 0, bytesIn: 5e5 });
  assert.equal(window.rates().windowSeconds, 0);
  window.add({ t: 4000, received: 15, out: 10, bytesIn: 1.5e6 });
  assert.deepEqual(window.rates(), {
    inPerSecond: 10,
    outPerSecond: 10,
    mbInPerSecond: 1,
    windowSeconds: 1,
  });
});
