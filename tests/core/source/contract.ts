/**
 * The Source contract as tests (core/source/source.ts): every kind of source
 * (Kafka, a folder of files) registers these cases with its own fixture, so the
 * archive can rely on the same behaviour whatever feeds it.
 */
import assert from "node:assert/strict";
import type { Source, SourceMessage } from "../../../core/source/source.ts";
import { TopicPartitionMap } from "../../../core/source/topic_partition.ts";
import { waitFor } from "../../support/wait.ts";

/** A source over messages already waiting for it, and what they are. */
export interface SourceFixture {
  source: Source;
  /** Every message it will deliver: the values of each topic-partition in offset order. */
  expected: TopicPartitionMap<Uint8Array[]>;
  /** A scratch folder the handler writes to, as the archive does. */
  dir: string;
  close(): Promise<void>;
}

/** Registers the contract's cases for one kind of source. */
export function sourceContract(kind: string, open: () => Promise<SourceFixture>): void {
  const test = (name: string, fn: (fixture: SourceFixture) => Promise<void>) =>
    Deno.test({
      name: `${kind} source: ${name}`,
      // kafkajs keeps timers and sockets past its disconnect.
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const fixture = await open();
        try {
          await fn(fixture);
        } finally {
          await fixture.source.stop();
          await fixture.close();
        }
      },
    });

  test("every message once, in offset order, one delivery of a partition at a time", async (f) => {
    const got = new TopicPartitionMap<SourceMessage[]>();
    const busy = new TopicPartitionMap<true>();
    const overlaps: string[] = [];
    let calls = 0;
    await f.source.start({
      async onMessages(messages) {
        const tp = messages[0];
        assert.ok(messages.every((m) => m.topic === tp.topic && m.partition === tp.partition));
        if (busy.has(tp)) overlaps.push(`${tp.topic}[${tp.partition}]`);
        busy.set(tp, true);
        // Real I/O inside the call, as the archive's, longer on a partition's first call: a
        // source that did not wait for the handler would deliver the partition's next messages
        // in the meantime.
        const first = !got.has(tp);
        for (let i = 0; i < (first ? 20 : 1); i++) {
          await Deno.writeFile(`${f.dir}/call-${calls}-${i}`, messages[0].value);
        }
        calls++;
        got.getOrCreate(tp, () => []).push(...messages);
        busy.delete(tp);
      },
    });
    const total = [...f.expected.values()].reduce((n, values) => n + values.length, 0);
    await waitFor(`${total} messages`, () => [...got.values()].flat().length >= total);
    assert.deepEqual(overlaps, [], "the source waits for the handler before delivering more");
    assert.ok(calls > f.expected.size, "several deliveries per partition");
    assert.deepEqual([...got.keys()].sort(order), [...f.expected.keys()].sort(order));
    for (const [tp, values] of f.expected) {
      const messages = got.get(tp)!;
      const offsets = messages.map((m) => m.offset);
      assert.deepEqual(offsets, [...offsets].sort((a, b) => (a < b ? -1 : 1)), "in offset order");
      assert.equal(new Set(offsets).size, offsets.length, "each once");
      assert.deepEqual(messages.map((m) => new Uint8Array(m.value)), values, "the values sent");
      assert.ok(messages.every((m) => Number.isFinite(m.timestamp)), "a timestamp each");
    }
    assert.equal(f.source.health().connected, true);
  });

  test("positions past every delivered offset; stop waits for the handler", async (f) => {
    const last = new TopicPartitionMap<bigint>();
    let running = 0;
    await f.source.start({
      async onMessages(messages) {
        running++;
        await Deno.writeFile(`${f.dir}/last`, messages[0].value);
        for (const m of messages) last.set(m, m.offset);
        running--;
      },
    });
    await waitFor("the first deliveries", () => last.size > 0);
    await waitFor(
      "the positions of the delivered partitions",
      () =>
        [...last].every(([tp, offset]) =>
          f.source.positions().some((p) =>
            p.topic === tp.topic && p.partition === tp.partition && p.highWatermark > offset
          )
        ),
    );
    for (const [tp, offset] of last) await f.source.commit(tp, offset + 1n);
    await f.source.stop();
    assert.equal(running, 0, "no handler call runs once stop resolved");
  });
}

function order(a: { topic: string; partition: number }, b: { topic: string; partition: number }) {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
}
