/**
 * Retention by size and by age deletes whole old segments, moves the log
 * start offset (ListOffsets earliest) and makes older offsets out of range.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Broker, startBroker } from "../../../simulator/broker/mod.ts";
import { Writer } from "../../../simulator/broker/protocol/writer.ts";
import { ErrorCode } from "../../../simulator/broker/protocol/api.ts";
import { encodeBatch, produceBody, RawClient, readProduceResponse } from "./raw_client.ts";
import { readAlerts } from "./ztf_alerts.ts";

const alerts = readAlerts("fink-broker-all-distribute-20231018", 20).map((a) => a.bytes);

async function produceEach(
  client: RawClient,
  topic: string,
  timestamp: number,
  values: Uint8Array[],
) {
  for (const v of values) {
    const r = readProduceResponse(
      await client.request(0, 3, produceBody(topic, 0, encodeBatch([v], timestamp))),
    );
    assert.equal(r.error, ErrorCode.NONE);
  }
}

async function listOffset(client: RawClient, topic: string, timestamp: number): Promise<number> {
  const body = new Writer().int32(-1).int8(0).array([topic], (w, t) => {
    w.string(t).array([0], (w) => void w.int32(0).int64(timestamp));
  });
  const r = await client.request(2, 2, body);
  r.int32();
  r.int32();
  r.string();
  r.int32();
  r.int32();
  assert.equal(r.int16(), ErrorCode.NONE);
  r.int64();
  return Number(r.int64());
}

async function fetchError(client: RawClient, topic: string, offset: number): Promise<number> {
  const body = new Writer().int32(-1).int32(0).int32(0).int32(1 << 20).int8(0)
    .array([topic], (w, t) => {
      w.string(t).array([0], (w) => void w.int32(0).int64(offset).int32(1 << 20));
    });
  const r = await client.request(1, 4, body);
  r.int32();
  r.int32();
  r.string();
  r.int32();
  r.int32();
  return r.int16();
}

function segmentFiles(dataDir: string, topic: string): string[] {
  return [...Deno.readDirSync(join(dataDir, `${topic}-0`))].map((e) => e.name).sort();
}

async function withBroker(
  options: Parameters<typeof startBroker>[0],
  run: (broker: Broker, client: RawClient) => Promise<void>,
) {
  const broker = await startBroker({ port: 0, ...options });
  const client = await RawClient.connect(broker.port);
  try {
    await run(broker, client);
  } finally {
    client.close();
    await broker.close();
  }
}

Deno.test("retention by size deletes old segments and moves the log start offset (disk)", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "broker_retention_" });
  try {
    const segmentBytes = 3 * 70_000;
    await withBroker(
      { dataDir, segmentBytes, retentionBytes: 5 * 70_000 },
      async (broker, client) => {
        broker.createTopic("sized", 1);
        await produceEach(client, "sized", Date.now(), alerts);
        const before = segmentFiles(dataDir, "sized");
        assert.ok(before.length >= 6, `expected several segments, found ${before.length}`);
        assert.equal(await listOffset(client, "sized", -2), 0);

        assert.ok(broker.enforceRetention() > 0);
        const after = segmentFiles(dataDir, "sized");
        assert.ok(after.length < before.length);
        const start = await listOffset(client, "sized", -2);
        assert.equal(start, Number(after[0].slice(0, 20)));
        assert.ok(start > 0);
        assert.equal(await listOffset(client, "sized", -1), alerts.length);
        assert.equal(await fetchError(client, "sized", start - 1), ErrorCode.OFFSET_OUT_OF_RANGE);
        assert.equal(await fetchError(client, "sized", start), ErrorCode.NONE);
        assert.equal(
          await fetchError(client, "sized", alerts.length + 1),
          ErrorCode.OFFSET_OUT_OF_RANGE,
        );
      },
    );
    // The moved start survives a restart: the deleted files are gone.
    await withBroker({ dataDir }, async (_broker, client) => {
      assert.equal(
        await listOffset(client, "sized", -2),
        Number(segmentFiles(dataDir, "sized")[0].slice(0, 20)),
      );
      assert.equal(await listOffset(client, "sized", -1), alerts.length);
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("retention by age deletes segments whose newest record is too old (memory)", async () => {
  const hourAgo = Date.now() - 3_600_000;
  await withBroker(
    { dataDir: null, segmentBytes: 2 * 70_000, retentionMs: 600_000 },
    async (broker, client) => {
      broker.createTopic("aged", 1);
      await produceEach(client, "aged", hourAgo, alerts.slice(0, 8));
      await produceEach(client, "aged", Date.now(), alerts.slice(8, 12));
      // Timestamp lookup finds the first recent record.
      assert.equal(await listOffset(client, "aged", hourAgo + 1), 8);
      assert.equal(await listOffset(client, "aged", hourAgo), 0);

      assert.ok(broker.enforceRetention() > 0);
      assert.equal(await listOffset(client, "aged", -2), 8);
      assert.equal(await fetchError(client, "aged", 0), ErrorCode.OFFSET_OUT_OF_RANGE);
      assert.equal(await fetchError(client, "aged", 8), ErrorCode.NONE);
      assert.equal(broker.enforceRetention(), 0);
    },
  );
});
