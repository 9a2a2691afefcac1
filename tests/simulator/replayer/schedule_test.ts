/**
 * The replay schedule without Kafka: burst and observation counts, "all" ending with the
 * stream, batch limits, rate-limited batch sizes, one send in flight, and stopping.
 */
import assert from "node:assert/strict";
import type { EncodedMessage } from "../../../simulator/replayer/encodings.ts";
import { runSchedule, type ScheduleOptions } from "../../../simulator/replayer/schedule.ts";

async function* messages(count: number, size = 10): AsyncGenerator<EncodedMessage> {
  for (let i = 0; i < count; i++) yield { key: String(i), value: new Uint8Array(size) };
}

async function* endless(): AsyncGenerator<EncodedMessage> {
  for (let i = 0;; i++) yield { key: String(i), value: new Uint8Array(10) };
}

function recorder() {
  const batches: string[][] = [];
  const observations: number[] = [];
  let inflight = 0;
  let maxInflight = 0;
  let current = 0;
  return {
    batches,
    observations,
    maxInflight: () => maxInflight,
    hooks: {
      send: async (batch: EncodedMessage[]) => {
        inflight++;
        maxInflight = Math.max(maxInflight, inflight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        batches.push(batch.map((m) => m.key!));
        current += batch.length;
        inflight--;
      },
      startObservation: () => {
        current = 0;
      },
      endObservation: () => {
        observations.push(current);
      },
    },
  };
}

const BASE: ScheduleOptions = {
  alertsPerObservation: 10,
  observations: "all",
  burst: 0,
  intervalSeconds: 0,
  rate: 0,
  batchMessages: 500,
  batchBytes: 4_000_000,
  endless: false,
  signal: new AbortController().signal,
};

Deno.test('"all" sends every message once in observations and stops with the stream', async () => {
  const r = recorder();
  await runSchedule(messages(25), r.hooks, BASE);
  assert.deepEqual(r.observations, [10, 10, 5]);
  assert.deepEqual(r.batches.flat(), Array.from({ length: 25 }, (_, i) => String(i)));
  const exact = recorder();
  await runSchedule(messages(20), exact.hooks, BASE);
  assert.deepEqual(exact.observations, [10, 10], "an empty trailing observation was counted");
});

Deno.test("a burst comes first, then the numbered observations", async () => {
  const r = recorder();
  await runSchedule(endless(), r.hooks, {
    ...BASE,
    endless: true,
    burst: 7,
    observations: 2,
    alertsPerObservation: 3,
  });
  assert.deepEqual(r.observations, [7, 3, 3]);
  const none = recorder();
  await runSchedule(endless(), none.hooks, { ...BASE, endless: true, observations: 0 });
  assert.deepEqual(none.observations, []);
});

Deno.test("a primed first message is sent first", async () => {
  const r = recorder();
  const stream = messages(5);
  const first = await stream.next();
  await runSchedule(stream, r.hooks, { ...BASE, first });
  assert.deepEqual(r.batches.flat(), ["0", "1", "2", "3", "4"]);
});

Deno.test("batches respect the message and byte limits, one send at a time", async () => {
  const r = recorder();
  await runSchedule(messages(100, 100), r.hooks, {
    ...BASE,
    alertsPerObservation: 100,
    batchMessages: 30,
    batchBytes: 1000,
  });
  assert.deepEqual(r.batches.map((b) => b.length), [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]);
  const s = recorder();
  await runSchedule(messages(100, 1), s.hooks, {
    ...BASE,
    alertsPerObservation: 100,
    batchMessages: 30,
  });
  assert.deepEqual(s.batches.map((b) => b.length), [30, 30, 30, 10]);
  assert.equal(s.maxInflight(), 1);
});

Deno.test("a rate limit cuts observations into batches of about 1/20 s", async () => {
  const r = recorder();
  await runSchedule(endless(), r.hooks, {
    ...BASE,
    endless: true,
    observations: 1,
    alertsPerObservation: 50,
    rate: 400,
  });
  assert.deepEqual(r.batches.map((b) => b.length), [20, 20, 10]);
});

Deno.test("aborting ends the pause between observations and stops sending", async () => {
  const controller = new AbortController();
  const r = recorder();
  const running = runSchedule(endless(), {
    ...r.hooks,
    endObservation: () => {
      r.hooks.endObservation();
      controller.abort();
    },
  }, {
    ...BASE,
    endless: true,
    observations: 100,
    intervalSeconds: 3600,
    signal: controller.signal,
  });
  await running;
  assert.deepEqual(r.observations, [10]);
});

Deno.test("a failing send rejects the schedule", async () => {
  await assert.rejects(
    runSchedule(messages(50), {
      send: () => Promise.reject(new Error("broker said no")),
      startObservation: () => {},
      endObservation: () => {},
    }, { ...BASE, batchMessages: 5 }),
    /broker said no/,
  );
});
