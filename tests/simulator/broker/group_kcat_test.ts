/**
 * kcat's balanced consumer (librdkafka 2.x, `kcat -G`) against the embedded
 * broker's group coordinator with real ZTF alerts: it consumes everything
 * and commits, and the same group then gets nothing new, or only what was
 * produced since.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { type Broker, startBroker } from "../../../simulator/broker/mod.ts";
import { type Alert, readAlerts } from "./group_interop.ts";

Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

/** Runs kcat's balanced consumer; returns the keys it printed, one per message. */
async function kcatGroup(
  broker: Broker,
  { groupId, topic, args }: { groupId: string; topic: string; args: string[] },
): Promise<string[]> {
  const out = await new Deno.Command("kcat", {
    args: ["-b", broker.address, "-G", groupId, topic, "-q", "-f", "%k\\n", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`kcat -G ${groupId} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).split("\n").filter((line) => line !== "");
}

async function produce(kafka: Kafka, topic: string, alerts: Alert[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: alerts.map((a) => ({ key: a.key, value: a.bytes })) });
  } finally {
    await producer.disconnect();
  }
}

Deno.test("kcat -G consumes every alert and commits; the same group then gets only what is new", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const topic = "ztf-kcat-group";
  const groupId = "kcat-group";
  const alerts = readAlerts(30);
  const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  try {
    broker.createTopic(topic, 4);
    await produce(kafka, topic, alerts.slice(0, 24));

    const first = await kcatGroup(broker, {
      groupId,
      topic,
      args: ["-o", "beginning", "-c", "24"],
    });
    assert.deepEqual(first.sort(), alerts.slice(0, 24).map((a) => a.key).sort());

    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const total = committed.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
    assert.equal(total, 24, "kcat's commits were not all stored");

    const second = await kcatGroup(broker, { groupId, topic, args: ["-e"] });
    assert.deepEqual(second, []);

    await produce(kafka, topic, alerts.slice(24));
    const third = await kcatGroup(broker, { groupId, topic, args: ["-e"] });
    assert.deepEqual(third.sort(), alerts.slice(24).map((a) => a.key).sort());
  } finally {
    await admin.disconnect();
    await broker.close();
  }
});
