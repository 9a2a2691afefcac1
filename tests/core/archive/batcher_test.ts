import assert from "node:assert/strict";
import { Batcher } from "../../../core/archive/batcher.ts";
import type { SourceMessage, TopicPartition } from "../../../core/source/source.ts";
import { sharedData } from "../../shared_data.ts";

const ALERT = await Deno.readFile(
  sharedData("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro"),
);

function messages(partition: number, from: number, count: number): SourceMessage[] {
  return Array.from({ length: count }, (_, i) => ({
    topic: "ztf",
    partition,
    offset: BigInt(from + i),
    timestamp: 0,
    value: ALERT,
  }));
}

function recorder() {
  const flushed: { tp: TopicPartition; offsets: bigint[] }[] = [];
  return {
    flushed,
    flush(tp: TopicPartition, batch: SourceMessage[]) {
      flushed.push({ tp, offsets: batch.map((m) => m.offset) });
      return Promise.resolve();
    },
  };
}

Deno.test("a batch closes at the message count", async () => {
  const r = recorder();
  const b = new Batcher({ maxMessages: 3, maxBytes: 1e12, maxMs: 60_000, flush: r.flush });
  await b.add(messages(0, 0, 7), -1n);
  await b.close();
  assert.deepEqual(r.flushed.map((f) => f.offsets.length), [3, 3, 1]);
  assert.deepEqual(r.flushed.flatMap((f) => f.offsets), messages(0, 0, 7).map((m) => m.offset));
});

Deno.test("a batch closes at the byte bound", async () => {
  const r = recorder();
  const b = new Batcher({
    maxMessages: 1000,
    maxBytes: ALERT.byteLength * 2,
    maxMs: 60_000,
    flush: r.flush,
  });
  await b.add(messages(0, 0, 5), -1n);
  await b.close();
  assert.deepEqual(r.flushed.map((f) => f.offsets.length), [2, 2, 1]);
});

Deno.test("a partial batch is flushed when its time is up", async () => {
  const flushed = Promise.withResolvers<bigint[]>();
  const b = new Batcher({
    maxMessages: 1000,
    maxBytes: 1e12,
    maxMs: 20,
    flush: (_tp, batch) => {
      flushed.resolve(batch.map((m) => m.offset));
      return Promise.resolve();
    },
  });
  await b.add(messages(1, 10, 2), -1n);
  assert.deepEqual(await flushed.promise, [10n, 11n]);
  await b.close();
});

Deno.test("committed offsets and re-deliveries are dropped", async () => {
  const r = recorder();
  const accepted: bigint[] = [];
  const b = new Batcher({
    maxMessages: 1000,
    maxBytes: 1e12,
    maxMs: 60_000,
    flush: r.flush,
    onAccept: (m) => accepted.push(m.offset),
  });
  await b.add(messages(0, 0, 5), 1n);
  await b.add(messages(0, 3, 4), 1n);
  await b.close();
  assert.deepEqual(accepted, [2n, 3n, 4n, 5n, 6n]);
  assert.deepEqual(r.flushed.flatMap((f) => f.offsets), [2n, 3n, 4n, 5n, 6n]);
});

Deno.test("add waits while the partition's earlier batch is still flushing", async () => {
  const release = Promise.withResolvers<void>();
  let flushes = 0;
  const b = new Batcher({
    maxMessages: 2,
    maxBytes: 1e12,
    maxMs: 60_000,
    flush: async () => {
      flushes++;
      await release.promise;
    },
  });
  await b.add(messages(0, 0, 2), -1n); // first batch flushing, may fill the next
  let done = false;
  const second = b.add(messages(0, 2, 2), -1n).then(() => (done = true));
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(done, false, "the source is paused while two batches are pending");
  assert.equal(flushes, 1);
  release.resolve();
  await second;
  await b.close();
  assert.equal(flushes, 2);
});

Deno.test("a failed flush stops the batcher with that error", async () => {
  const b = new Batcher({
    maxMessages: 1,
    maxBytes: 1e12,
    maxMs: 60_000,
    flush: () => Promise.reject(new Error("permission denied")),
  });
  await assert.rejects(b.add(messages(0, 0, 3), -1n), /permission denied/);
  assert.match(b.failed!.message, /permission denied/);
  await b.close();
});

Deno.test("over many partitions the bytes held stay under the global bound", async () => {
  const size = ALERT.byteLength;
  const releases: (() => void)[] = [];
  const flushed: bigint[] = [];
  let peak = 0;
  const b: Batcher = new Batcher({
    maxMessages: 1000,
    maxBytes: size * 10,
    maxMs: 60_000,
    maxBufferedBytes: size * 4,
    async flush(_tp, batch) {
      peak = Math.max(peak, b.heldBytes);
      await new Promise<void>((resolve) => releases.push(resolve));
      flushed.push(...batch.map((m) => m.offset));
    },
  });
  const pump = () => new Promise((resolve) => setTimeout(() => resolve(releases.shift()?.()), 1));
  // Eight partitions of three alerts each, 24 alerts, against a bound of 4 alerts:
  // no batch is full, so only the bound makes them flush.
  let added = 0;
  const adds = Array.from(
    { length: 8 },
    (_, p) => b.add(messages(p, p * 100, 3), -1n).then(() => added++),
  );
  while (releases.length === 0) await new Promise((r) => setTimeout(r, 1));
  assert.ok(added < 8, "adds past the bound must wait");
  while (added < 8) await pump();
  const closing = b.close();
  while (flushed.length < 24) await pump();
  await closing;
  await Promise.all(adds);
  assert.deepEqual(
    flushed.toSorted((x, y) => Number(x - y)),
    Array.from({ length: 8 }, (_, p) => messages(p, p * 100, 3).map((m) => m.offset)).flat(),
  );
  assert.ok(peak <= size * 5, `held ${peak} bytes at most, against a bound of ${size * 4}`);
});
