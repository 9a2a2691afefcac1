import assert from "node:assert/strict";
import { Batcher } from "../../../core/archive/batcher.ts";
import type { SourceMessage } from "../../../core/source/source.ts";
import type { TopicPartition } from "../../../core/source/topic_partition.ts";
import { sharedData } from "../../shared_data.ts";
import { waitFor } from "../../support/wait.ts";

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

/** Limits that never cut a batch, and callbacks recording the offsets flushed. */
function recorder() {
  const flushed: { tp: TopicPartition; offsets: bigint[] }[] = [];
  return {
    flushed,
    maxMessages: 1000,
    maxBytes: 1e12,
    maxMs: 60_000,
    maxBufferedBytes: 1e12,
    prepare: (_tp: TopicPartition, batch: SourceMessage[]) =>
      Promise.resolve(batch.map((m) => m.offset)),
    flush(tp: TopicPartition, offsets: bigint[]) {
      flushed.push({ tp, offsets });
      return Promise.resolve();
    },
  };
}

Deno.test("a batch closes at the message count", async () => {
  const r = recorder();
  const b = new Batcher({ ...r, maxMessages: 3 });
  await b.add(messages(0, 0, 7), -1n);
  await b.close();
  assert.deepEqual(r.flushed.map((f) => f.offsets.length), [3, 3, 1]);
  assert.deepEqual(r.flushed.flatMap((f) => f.offsets), messages(0, 0, 7).map((m) => m.offset));
});

Deno.test("a batch closes at the byte bound", async () => {
  const r = recorder();
  const b = new Batcher({ ...r, maxBytes: ALERT.byteLength * 2 });
  await b.add(messages(0, 0, 5), -1n);
  await b.close();
  assert.deepEqual(r.flushed.map((f) => f.offsets.length), [2, 2, 1]);
});

Deno.test("a partial batch is flushed when its time is up", async () => {
  const flushed = Promise.withResolvers<bigint[]>();
  const b = new Batcher({
    ...recorder(),
    maxMs: 20,
    flush: (_tp, offsets) => {
      flushed.resolve(offsets);
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
  const b = new Batcher({ ...r, onAccept: (m) => accepted.push(m.offset) });
  await b.add(messages(0, 0, 5), 1n);
  await b.add(messages(0, 3, 4), 1n);
  await b.close();
  assert.deepEqual(accepted, [2n, 3n, 4n, 5n, 6n]);
  assert.deepEqual(r.flushed.flatMap((f) => f.offsets), [2n, 3n, 4n, 5n, 6n]);
});

Deno.test("a partition's batches are prepared side by side and flushed in offset order", async () => {
  const r = recorder();
  const release = Promise.withResolvers<void>();
  const prepared: bigint[][] = [];
  const b = new Batcher({
    ...r,
    maxMessages: 2,
    prepare: (_tp, batch) => {
      const offsets = batch.map((m) => m.offset);
      prepared.push(offsets);
      // The first batch takes longest to prepare: the flushes must still keep offset order.
      return prepared.length === 1 ? release.promise.then(() => offsets) : Promise.resolve(offsets);
    },
  });
  await b.add(messages(0, 0, 6), -1n);
  const closing = b.close();
  await waitFor("three batches prepared", () => prepared.length >= 3, { everyMs: 1 });
  assert.equal(r.flushed.length, 0, "nothing is flushed before the first batch is prepared");
  release.resolve();
  await closing;
  assert.deepEqual(r.flushed.map((f) => f.offsets), [[0n, 1n], [2n, 3n], [4n, 5n]]);
});

Deno.test("add waits at the bound until a flush frees room", async () => {
  const release = Promise.withResolvers<void>();
  const fourTaken = Promise.withResolvers<void>();
  let accepted = 0;
  const b = new Batcher({
    ...recorder(),
    maxMessages: 2,
    maxBufferedBytes: ALERT.byteLength * 4,
    onAccept: () => ++accepted === 4 && fourTaken.resolve(),
    flush: () => release.promise,
  });
  let done = false;
  const adding = b.add(messages(0, 0, 6), -1n).then(() => (done = true));
  await fourTaken.promise;
  // Both batches are prepared (a timer turn later): only a flush can free room now.
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(accepted, 4);
  assert.equal(done, false, "the source is paused while 4 alerts are held");
  assert.equal(b.heldBytes, ALERT.byteLength * 4);
  release.resolve();
  await adding;
  await b.close();
});

Deno.test("a failed flush stops the batcher with that error", async () => {
  const b = new Batcher({
    ...recorder(),
    maxMessages: 1,
    flush: () => Promise.reject(new Error("permission denied")),
  });
  await b.add(messages(0, 0, 3), -1n);
  await assert.rejects(b.flushAll(), /permission denied/);
  assert.match(b.failed!.message, /permission denied/);
  await assert.rejects(b.add(messages(0, 3, 1), -1n), /permission denied/);
  await b.close();
});

Deno.test("over many partitions the bytes held stay under the global bound", async () => {
  const size = ALERT.byteLength;
  const releases: (() => void)[] = [];
  const flushed: bigint[] = [];
  let peak = 0;
  const b: Batcher<bigint[]> = new Batcher({
    ...recorder(),
    maxBytes: size * 10,
    maxBufferedBytes: size * 4,
    async flush(_tp, offsets) {
      peak = Math.max(peak, b.heldBytes);
      await new Promise<void>((resolve) => releases.push(resolve));
      flushed.push(...offsets);
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
  await waitFor("a flush waiting for storage", () => releases.length > 0, { everyMs: 1 });
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
