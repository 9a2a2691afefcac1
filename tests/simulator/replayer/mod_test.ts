/**
 * The replayer end to end through the embedded broker, read back with kafkajs:
 * real ZTF files in container (byte-identical), confluent and schemaless encodings,
 * synthetic alerts in late mode, rate limit, burst, stop, and one-line errors.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { avroType } from "../../../simulator/alerts/mod.ts";
import { type Broker, startBroker } from "../../../simulator/broker/mod.ts";
import { fetchSchema, startRegistry } from "../../../simulator/registry/mod.ts";
import { readConfluentFrame, replay, type ReplayStats } from "../../../simulator/replayer/mod.ts";
import { decodeContainer } from "../../../simulator/replayer/records.ts";
import { sharedData } from "../../shared_data.ts";
import { readTopic, topicSize } from "./kafka_reader.ts";
import { waitFor } from "../../support/wait.ts";

const LOCAL = sharedData("ztf", "alerts", "fink-broker-local-20200101");
const FILES = [...Deno.readDirSync(LOCAL)].map((e) => join(LOCAL, e.name)).sort();
const JD_UNIX_EPOCH = 2440587.5;
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
/** avsc builds one record class per type; compare values, not prototypes. */
const plain = (value: unknown) => structuredClone(value);

function fileRecords(): Map<bigint, any> {
  const records = new Map<bigint, any>();
  for (const file of FILES) {
    for (const { value } of decodeContainer(Deno.readFileSync(file), file).records) {
      records.set(value.candid, value);
    }
  }
  return records;
}

async function withBroker(fn: (broker: Broker) => Promise<void>) {
  const broker = await startBroker({ host: "127.0.0.1", port: 0, dataDir: null });
  try {
    await fn(broker);
  } finally {
    await broker.close();
  }
}

Deno.test("container mode replays real ZTF files byte for byte, keyed by objectId", async () => {
  await withBroker(async (broker) => {
    const progress: ReplayStats[] = [];
    const before = Date.now();
    const running = replay({
      brokers: broker.address,
      topic: "ztf-container",
      source: LOCAL,
      alertsPerObservation: 20,
      partitions: 3,
      onProgress: (stats) => progress.push(stats),
    });
    const ready = await running.ready;
    assert.equal(ready.total, 50);
    const stats = await running.done;
    assert.equal(stats.sent, 50);
    assert.equal(stats.observations, 3);
    assert.equal(stats.bytes, FILES.reduce((sum, f) => sum + Deno.statSync(f).size, 0));
    assert.ok(progress.at(-1)!.finished);
    assert.deepEqual(broker.topics(), [{ name: "ztf-container", partitions: 3 }]);

    const messages = await readTopic(broker.address, "ztf-container", 50);
    assert.equal(await topicSize(broker.address, "ztf-container"), 50);
    const expected = new Map(FILES.map((file) => [hex(Deno.readFileSync(file)), file]));
    for (const message of messages) {
      const file = expected.get(hex(message.value));
      assert.ok(file, "a message is not byte-identical to any file");
      expected.delete(hex(message.value));
      const record = decodeContainer(message.value, file).records[0].value;
      assert.equal(message.key, record.objectId);
      assert.ok(message.timestamp >= before - 1000 && message.timestamp <= Date.now() + 1000);
    }
    assert.equal(expected.size, 0);
    assert.ok(
      new Set(messages.map((m) => m.partition)).size > 1,
      "all keys hashed to one partition",
    );
  });
});

Deno.test("confluent mode frames every record with the registry's id and exact records", async () => {
  const registry = await startRegistry({ port: 0 });
  try {
    await withBroker(async (broker) => {
      const running = replay({
        brokers: broker.address,
        topic: "ztf-confluent",
        source: LOCAL,
        encoding: "confluent",
        registryUrl: registry.url,
      });
      const ready = await running.ready;
      assert.equal(typeof ready.schemaId, "number");
      await running.done;
      const expected = fileRecords();
      const messages = await readTopic(broker.address, "ztf-confluent", 50);
      for (const message of messages) {
        assert.equal(message.value[0], 0);
        const { schemaId, body } = readConfluentFrame(message.value);
        assert.equal(schemaId, ready.schemaId);
        const type = avroType(await fetchSchema(registry.url, schemaId));
        const record = type.fromBuffer(Buffer.from(body));
        assert.equal(typeof record.candid, "bigint");
        assert.ok(record.candid > 2n ** 53n);
        assert.deepEqual(plain(record), plain(expected.get(record.candid)));
        expected.delete(record.candid);
        assert.equal(message.key, record.objectId);
      }
      assert.equal(expected.size, 0);
    });
  } finally {
    await registry.close();
  }
});

Deno.test("schemaless mode writes the .avsc and its bodies decode to the files' records", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await withBroker(async (broker) => {
      const schemaPath = join(dir, "ztf.avsc");
      const running = replay({
        brokers: broker.address,
        topic: "ztf-schemaless",
        source: LOCAL,
        encoding: "schemaless",
        schemaPath,
      });
      assert.equal((await running.ready).schemaPath, schemaPath);
      assert.equal((await running.done).sent, 50);
      const type = avroType(await Deno.readTextFile(schemaPath));
      const expected = fileRecords();
      for (const message of await readTopic(broker.address, "ztf-schemaless", 50)) {
        const record = type.fromBuffer(Buffer.from(message.value));
        assert.deepEqual(plain(record), plain(expected.get(record.candid)));
        expected.delete(record.candid);
      }
      assert.equal(expected.size, 0);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("synthetic alerts in late mode carry event times D days in the past", async () => {
  await withBroker(async (broker) => {
    const lateDays = 3;
    const running = replay({
      brokers: broker.address,
      topic: "sim-late",
      source: "synthetic",
      alertsPerObservation: 40,
      observations: 2,
      lateDays,
      seed: 9,
    });
    const stats = await running.done;
    assert.equal(stats.sent, 80);
    assert.equal(stats.observations, 2);
    const nowJd = Date.now() / 86_400_000 + JD_UNIX_EPOCH;
    const candids = new Set<bigint>();
    for (const message of await readTopic(broker.address, "sim-late", 80)) {
      const [{ value }] = decodeContainer(message.value, "message").records;
      assert.equal(value.schemavsn, "sim-1");
      assert.ok(
        Math.abs(value.candidate.jd - (nowJd - lateDays)) < 0.01,
        `jd ${value.candidate.jd}`,
      );
      assert.equal(message.key, value.objectId);
      assert.ok(value.candid > 2n ** 53n);
      candids.add(value.candid);
    }
    assert.equal(candids.size, 80);
  });
});

Deno.test("real files in late mode are re-encoded with shifted candidate.jd", async () => {
  await withBroker(async (broker) => {
    await replay({
      brokers: broker.address,
      topic: "ztf-late",
      source: LOCAL,
      lateDays: 10,
      encoding: "container",
    }).done;
    const expected = fileRecords();
    for (const message of await readTopic(broker.address, "ztf-late", 50)) {
      const [{ value }] = decodeContainer(message.value, "message").records;
      const original = expected.get(value.candid) as { candidate: { jd: number } };
      assert.equal(value.candidate.jd, original.candidate.jd - 10);
    }
  });
});

Deno.test("the rate limit keeps the measured average at or under the target", async () => {
  await withBroker(async (broker) => {
    const stats = await replay({
      brokers: broker.address,
      topic: "sim-rate",
      source: "synthetic",
      alertsPerObservation: 150,
      rate: 300,
    }).done;
    assert.equal(stats.sent, 150);
    // Only the token bucket's bound: a busy machine can make the replay slower, never faster.
    assert.ok(stats.alertsPerSecond <= 300, `${stats.alertsPerSecond} alerts/s`);
    assert.ok(stats.alertsPerSecond > 0, `${stats.alertsPerSecond} alerts/s was not measured`);
  });
});

Deno.test("burst sends N alerts at once, before the regular observations", async () => {
  await withBroker(async (broker) => {
    const only = await replay({
      brokers: broker.address,
      topic: "sim-burst",
      source: "synthetic",
      burst: 37,
      observations: 0,
    }).done;
    assert.equal(only.sent, 37);
    assert.equal(only.observations, 1);
    assert.equal(await topicSize(broker.address, "sim-burst"), 37);
    const mixed = await replay({
      brokers: broker.address,
      topic: "sim-burst-2",
      source: "synthetic",
      burst: 10,
      observations: 2,
      alertsPerObservation: 5,
      rate: 1000,
    }).done;
    assert.equal(mixed.total, 20);
    assert.equal(mixed.sent, 20);
    assert.equal(mixed.observations, 3);
  });
});

Deno.test("stop() ends a long replay cleanly, interrupting the pause between observations", async () => {
  await withBroker(async (broker) => {
    const running = replay({
      brokers: broker.address,
      topic: "sim-stop",
      source: "synthetic",
      alertsPerObservation: 10,
      observations: 1000,
      intervalSeconds: 3600,
    });
    await running.ready;
    await waitFor("the first observation sent", () => running.stats().sent >= 10);
    await running.stop();
    const stats = await running.done;
    assert.ok(stats.stopped);
    assert.ok(stats.finished);
    assert.equal(stats.sent, 10);
    assert.equal(stats.total, 10_000);
  });
});

Deno.test("bad options and unreachable brokers fail with one line naming the option", async () => {
  assert.throws(
    () => replay({ brokers: "127.0.0.1:1", topic: "t", source: "synthetic", encoding: "xml" }),
    /Unknown encoding "xml" \(option encoding\)/,
  );
  assert.throws(
    () => replay({ brokers: "127.0.0.1:1", topic: "t", source: "synthetic", observations: "all" }),
    /Option observations "all" needs a file source/,
  );
  assert.throws(
    () => replay({ brokers: "127.0.0.1:1", topic: "no spaces", source: "synthetic" }),
    /Option topic "no spaces" is not a valid Kafka topic name/,
  );
  assert.throws(
    () => replay({ brokers: "127.0.0.1:1", topic: "t", source: "synthetic", rate: -1 }),
    /Option rate must be a number >= 0; found -1/,
  );
  assert.throws(
    () =>
      replay({ brokers: "127.0.0.1:1", topic: "t", source: "synthetic", encoding: "confluent" }),
    /needs option registryUrl/,
  );
  const missing = replay({ brokers: "127.0.0.1:1", topic: "t", source: "/no/such/folder" });
  await assert.rejects(missing.ready, /Source \/no\/such\/folder cannot be read \(option source\)/);
  await assert.rejects(missing.done, /option source/);

  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const unreachable = replay({ brokers: `127.0.0.1:${port}`, topic: "t", source: "synthetic" });
  await assert.rejects(
    unreachable.done,
    (error: Error) =>
      /^Cannot reach Kafka broker\(s\) 127\.0\.0\.1:\d+ \(option brokers\)/.test(error.message) &&
      !error.message.includes("\n"),
  );
});

Deno.test("a batch the broker refuses fails the replay with one line naming the topic", async () => {
  const broker = await startBroker({ host: "127.0.0.1", port: 0, maxMessageBytes: 10_000 });
  try {
    const running = replay({ brokers: broker.address, topic: "too-big", source: LOCAL });
    await assert.rejects(
      running.done,
      (error: Error) =>
        /^Kafka refused a batch of \d+ alerts \(\d+ bytes\) for topic too-big/.test(
          error.message,
        ) &&
        !error.message.includes("\n"),
    );
  } finally {
    await broker.close();
  }
});
