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
