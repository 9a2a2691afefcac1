import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { encodeBatch, type RawMessage } from "../../../core/archive/encoder.ts";
import { EncoderPool } from "../../../core/archive/encoder_pool.ts";
import { sharedData } from "../../shared_data.ts";

const DIR = "ztf/alerts/fink-broker-all-distribute-20231018";
const ALERTS = [...Deno.readDirSync(sharedData(DIR))].map((e) => e.name).sort()
  .map((name) => Deno.readFileSync(sharedData(DIR, name)));

function batch(first: number, size: number): RawMessage[] {
  return Array.from({ length: size }, (_, i) => ({
    topic: "ztf",
    partition: 1,
    offset: BigInt(first + i),
    timestamp: 1_697_000_000_000,
    value: ALERTS[(first + i) % ALERTS.length],
  }));
}

Deno.test("the pool gives the same files as encoding in-process", async () => {
  const pool = new EncoderPool({ workers: 2 });
  try {
    const batches = [batch(0, 40), batch(40, 40), batch(80, 59)];
    const results = await Promise.all(batches.map((b) => pool.encode(b)));
    for (const [i, result] of results.entries()) {
      const local = await encodeBatch(batches[i]);
      assert.equal(result.decoded, local.decoded);
      assert.deepEqual(
        result.files.map((f) => [f.hour, f.startOffset, f.endOffset, f.rows, f.schemaKey]),
        local.files.map((f) => [f.hour, f.startOffset, f.endOffset, f.rows, f.schemaKey]),
      );
      result.files.forEach((f, j) => {
        assert.equal(Buffer.compare(f.bytes, local.files[j].bytes), 0);
        assert.deepEqual([...f.ids!], [...local.files[j].ids!]);
      });
    }
    assert.ok(ALERTS.every((a) => a.byteLength > 0), "the caller's buffers are not detached");
  } finally {
    await pool.close();
  }
});

Deno.test("quarantined messages come back from the worker", async () => {
  const pool = new EncoderPool({ workers: 1 });
  try {
    const messages = batch(0, 3);
    messages[1] = { ...messages[1], value: messages[1].value.slice(0, 1000) };
    const result = await pool.encode(messages);
    assert.equal(result.decoded, 2);
    assert.equal(result.quarantined.length, 1);
    assert.equal(result.quarantined[0].offset, 1n);
    assert.equal(result.quarantined[0].value.length, 1000);
    assert.match(result.quarantined[0].reason, /truncated/i);
  } finally {
    await pool.close();
  }
});

Deno.test("a full queue holds encode back until a worker frees a slot", async () => {
  const pool = new EncoderPool({ workers: 1, maxQueued: 1 });
  try {
    const pending = [0, 1, 2, 3].map((i) => pool.encode(batch(i * 5, 5)));
    assert.equal(pool.queued, 1, "one running, one queued");
    assert.equal(pool.waiting, 2, "the other two wait for room");
    const results = await Promise.all(pending);
    assert.deepEqual(results.map((r) => r.decoded), [5, 5, 5, 5]);
    assert.equal(pool.waiting, 0);
  } finally {
    await pool.close();
  }
});

Deno.test("a crashing worker rejects its batch and is replaced", async () => {
  const dir = await Deno.makeTempDir();
  const workerUrl = new URL(`file://${dir}/crashing_worker.ts`).href;
  const real = new URL("../../../core/archive/encoder_worker.ts", import.meta.url).href;
  await Deno.writeTextFile(
    `${dir}/crashing_worker.ts`,
    `// @ts-nocheck: a test double wrapping the real worker
import ${JSON.stringify(real)};
const encode = self.onmessage;
self.onmessage = (event) => {
  if (event.data.batch.offsets[0] === 666n) throw new Error("boom");
  return encode(event);
};
`,
  );
  const pool = new EncoderPool({ workers: 1, workerUrl });
  try {
    const crash = pool.encode(batch(666, 2));
    const after = pool.encode(batch(0, 2));
    await assert.rejects(
      crash,
      /Encoder worker crashed while encoding ztf\/1 offsets 666..667.*boom/,
    );
    assert.equal((await after).decoded, 2, "the replacement worker encodes the next batch");
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("close lets running batches finish, then refuses new ones", async () => {
  const pool = new EncoderPool({ workers: 2 });
  const running = pool.encode(batch(0, 10));
  const closed = pool.close();
  assert.equal((await running).decoded, 10);
  await closed;
  await assert.rejects(pool.encode(batch(0, 1)), /Encoder pool is closed/);
});
