/**
 * startSimulator: starts the embedded broker unless one answers, starts the registry
 * for confluent, replays, and stop() closes exactly what it started.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { avroType } from "../../simulator/alerts/mod.ts";
import { startBroker } from "../../simulator/broker/mod.ts";
import { startSimulator } from "../../simulator/mod.ts";
import { fetchSchema } from "../../simulator/registry/mod.ts";
import { readConfluentFrame } from "../../simulator/replayer/mod.ts";
import { sharedData } from "../shared_data.ts";
import { readTopic, topicSize } from "./replayer/kafka_reader.ts";

async function refuses(address: string): Promise<boolean> {
  const [hostname, port] = address.split(":");
  try {
    const connection = await Deno.connect({ hostname, port: Number(port) });
    connection.close();
    return false;
  } catch {
    return true;
  }
}

Deno.test("starts broker and registry for confluent synthetic alerts and closes both", async () => {
  const logs: Record<string, unknown>[] = [];
  const simulator = await startSimulator({
    broker: { port: 0, inMemory: true },
    replay: {
      topic: "sim",
      source: "synthetic",
      encoding: "confluent",
      alertsPerObservation: 30,
      observations: 2,
    },
    log: (entry) => logs.push(entry),
  });
  try {
    assert.ok(simulator.brokerStarted);
    assert.ok(simulator.registryUrl);
    assert.deepEqual(logs.map((l) => l.event), [
      "broker_started",
      "registry_started",
      "replay_started",
    ]);
    assert.equal((await simulator.done).sent, 60);
    const messages = await readTopic(simulator.brokerAddress, "sim", 60);
    const { schemaId } = readConfluentFrame(messages[0].value);
    const type = avroType(await fetchSchema(simulator.registryUrl!, schemaId));
    for (const message of messages) {
      const alert = type.fromBuffer(Buffer.from(readConfluentFrame(message.value).body));
      assert.equal(alert.schemavsn, "sim-1");
      assert.equal(message.key, alert.objectId);
    }
  } finally {
    await simulator.stop();
  }
  assert.ok(await refuses(simulator.brokerAddress), "the broker still listens after stop()");
  await assert.rejects(fetch(`${simulator.registryUrl}/subjects`));
});

Deno.test("reuses a broker that already answers on the port and leaves it running", async () => {
  const broker = await startBroker({ host: "127.0.0.1", port: 0 });
  try {
    const logs: Record<string, unknown>[] = [];
    const simulator = await startSimulator({
      broker: { host: "127.0.0.1", port: broker.port },
      replay: { topic: "ztf", source: sharedData("ztf", "alerts", "fink-broker-local-20200101") },
      log: (entry) => logs.push(entry),
    });
    assert.equal(simulator.brokerStarted, false);
    assert.equal(simulator.brokerAddress, broker.address);
    assert.equal(logs[0].event, "broker_reused");
    assert.equal((await simulator.done).sent, 50);
    await simulator.stop();
    assert.equal(await topicSize(broker.address, "ztf"), 50);
  } finally {
    await broker.close();
  }
});

Deno.test("with a data folder, schemaless writes its .avsc there", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const simulator = await startSimulator({
      broker: { port: 0, dataDir },
      replay: {
        topic: "fink-out",
        source: "synthetic",
        encoding: "schemaless",
        alertsPerObservation: 5,
      },
      log: () => {},
    });
    try {
      assert.equal(simulator.schemaPath, join(dataDir, "schemas", "fink-out.avsc"));
      await simulator.done;
      const type = avroType(await Deno.readTextFile(simulator.schemaPath!));
      const [message] = await readTopic(simulator.brokerAddress, "fink-out", 5);
      assert.equal(type.fromBuffer(Buffer.from(message.value)).schemavsn, "sim-1");
    } finally {
      await simulator.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a failing replay closes the broker it started and rejects with the reason", async () => {
  const logs: Record<string, unknown>[] = [];
  await assert.rejects(
    startSimulator({
      broker: { port: 0 },
      replay: { topic: "t", source: "/no/such/alerts" },
      log: (entry) => logs.push(entry),
    }),
    /option source/,
  );
  const started = logs.find((l) => l.event === "broker_started")!;
  assert.ok(await refuses(String(started.address)));
});
