/**
 * Hostile input over raw TCP: garbage, truncated frames, absurd sizes, unknown
 * APIs and corrupt batches close (or answer) only the offending connection;
 * the broker keeps serving the others.
 */
import assert from "node:assert/strict";
import { startBroker } from "../../../simulator/broker/mod.ts";
import { Writer } from "../../../simulator/broker/protocol/writer.ts";
import { ErrorCode } from "../../../simulator/broker/protocol/api.ts";
import { encodeBatch, produceBody, RawClient, readProduceResponse } from "./raw_client.ts";
import { readAlerts, sameBytes } from "./ztf_alerts.ts";

const alerts = readAlerts("fink-broker-local-20200101", 3);

/** Produces one alert on a fresh connection and fetches it back byte for byte. */
async function assertHealthy(port: number, topic: string, value: Uint8Array): Promise<void> {
  const client = await RawClient.connect(port);
  try {
    const produced = readProduceResponse(
      await client.request(0, 3, produceBody(topic, 0, encodeBatch([value]))),
    );
    assert.deepEqual(produced.error, ErrorCode.NONE);
    const fetch = new Writer().int32(-1).int32(0).int32(0).int32(1 << 20).int8(0)
      .array([topic], (w, t) => {
        w.string(t).array([0], (w) => void w.int32(0).int64(produced.baseOffset).int32(1 << 20));
      });
    const r = await client.request(1, 4, fetch);
    r.int32();
    r.int32();
    r.string();
    r.int32();
    assert.deepEqual(r.int32(), 0);
    assert.deepEqual(r.int16(), ErrorCode.NONE);
    r.int64();
    r.int64();
    r.int32();
    const records = r.raw(r.int32());
    // One batch, one record: the value is the last bytes before the headers count.
    assert(
      sameBytes(
        records.subarray(records.byteLength - 1 - value.byteLength, records.byteLength - 1),
        value,
      ),
    );
  } finally {
    client.close();
  }
}

Deno.test("broker survives hostile connections and keeps serving others", async (t) => {
  const broker = await startBroker({ port: 0, dataDir: null, maxFrameBytes: 8 * 1024 * 1024 });
  broker.createTopic("hostile", 1);
  const value = alerts[0].bytes;
  try {
    await t.step("a frame claiming 2 GB closes the connection", async () => {
      const c = await RawClient.connect(broker.port);
      await c.send(new Uint8Array([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]));
      assert(await c.closedByPeer());
      c.close();
      await assertHealthy(broker.port, "hostile", value);
    });

    await t.step("a negative frame size closes the connection", async () => {
      const c = await RawClient.connect(broker.port);
      await c.send(new Uint8Array([0xff, 0xff, 0xff, 0xf0]));
      assert(await c.closedByPeer());
      c.close();
      await assertHealthy(broker.port, "hostile", value);
    });

    await t.step("random bytes close the connection", async () => {
      // Deterministic noise behind a plausible size: the header decodes to an unknown API key.
      const noise = new Uint8Array(512);
      let x = 12345;
      for (let i = 0; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
      noise[0] = 0x7a;
      const c = await RawClient.connect(broker.port);
      await c.send(new Writer().int32(noise.byteLength).raw(noise).bytes());
      assert(await c.closedByPeer());
      c.close();
      await assertHealthy(broker.port, "hostile", value);
    });

    await t.step("a truncated request body closes the connection", async () => {
      const c = await RawClient.connect(broker.port);
      // Metadata v1 whose topic array claims a million entries in 2 bytes.
      const body = new Writer().int16(3).int16(1).int32(7).nullableString("x").int32(1_000_000)
        .int16(0).bytes();
      await c.send(new Writer().int32(body.byteLength).raw(body).bytes());
      assert(await c.closedByPeer());
      c.close();
      await assertHealthy(broker.port, "hostile", value);
    });

    await t.step("a frame cut short by the peer does not disturb the broker", async () => {
      const c = await RawClient.connect(broker.port);
      await c.send(new Uint8Array([0, 0, 1, 0, 0, 3, 0, 1, 0]));
      c.conn.closeWrite();
      assert(await c.closedByPeer());
      c.close();
      await assertHealthy(broker.port, "hostile", value);
    });

    await t.step("an unknown API key closes the connection", async () => {
      const c = await RawClient.connect(broker.port);
      const body = new Writer().int16(999).int16(0).int32(1).nullableString("x").bytes();
      await c.send(new Writer().int32(body.byteLength).raw(body).bytes());
      assert(await c.closedByPeer());
      c.close();
      await assertHealthy(broker.port, "hostile", value);
    });

    await t.step("an unknown ApiVersions version gets error 35 and the version list", async () => {
      const c = await RawClient.connect(broker.port);
      try {
        const r = await c.request(18, 99, new Writer());
        assert.deepEqual(r.int16(), ErrorCode.UNSUPPORTED_VERSION);
        const apis = r.array((r) => ({ key: r.int16(), min: r.int16(), max: r.int16() }));
        assert.deepEqual(apis.find((a) => a.key === 18), { key: 18, min: 0, max: 3 });
        assert.deepEqual(apis.find((a) => a.key === 0), { key: 0, min: 3, max: 8 });
      } finally {
        c.close();
      }
    });

    await t.step(
      "a batch with a wrong CRC gets CORRUPT_MESSAGE and the connection stays usable",
      async () => {
        const c = await RawClient.connect(broker.port);
        try {
          const before = broker.stats().messagesIn;
          const batch = encodeBatch([value]);
          batch[batch.byteLength - 100] ^= 0xff;
          const bad = readProduceResponse(await c.request(0, 3, produceBody("hostile", 0, batch)));
          assert.deepEqual(bad.error, ErrorCode.CORRUPT_MESSAGE);
          assert.deepEqual(broker.stats().messagesIn, before);
          const good = readProduceResponse(
            await c.request(0, 3, produceBody("hostile", 0, encodeBatch([value]))),
          );
          assert.deepEqual(good.error, ErrorCode.NONE);
        } finally {
          c.close();
        }
        await assertHealthy(broker.port, "hostile", alerts[1].bytes);
      },
    );

    await t.step("a batch over maxMessageBytes gets MESSAGE_TOO_LARGE", async () => {
      const small = await startBroker({ port: 0, dataDir: null, maxMessageBytes: 10_000 });
      const c = await RawClient.connect(small.port);
      try {
        small.createTopic("small", 1);
        const r = readProduceResponse(
          await c.request(0, 3, produceBody("small", 0, encodeBatch([value]))),
        );
        assert.deepEqual(r.error, ErrorCode.MESSAGE_TOO_LARGE);
      } finally {
        c.close();
        await small.close();
      }
    });

    assert(broker.stats().connectionsRejected >= 5);
  } finally {
    await broker.close();
  }
});
