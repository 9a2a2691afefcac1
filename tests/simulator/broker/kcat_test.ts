/**
 * kcat (librdkafka 2.x) against the embedded broker: metadata listing,
 * producing alert files, consuming them byte for byte, and interoperating
 * with kafkajs in both directions.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { type Broker, startBroker } from "../../../simulator/broker/mod.ts";
import { readAlerts, sameBytes } from "./ztf_alerts.ts";

Deno.env.set("KAFKAJS_NO_PARTITIONER_WARNING", "1");

async function kcat(args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("kcat", { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`kcat ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

/** Consumes a whole partition with kcat; the format "%o %S\n%s" gives offset, size and exact payload. */
async function kcatConsume(broker: Broker, topic: string, partition = 0) {
  const out = await kcat([
    "-b",
    broker.address,
    "-C",
    "-t",
    topic,
    "-p",
    String(partition),
    "-o",
    "beginning",
    "-e",
    "-q",
    "-f",
    "%o %S\n%s",
  ]);
  const messages: { offset: number; value: Uint8Array }[] = [];
  let at = 0;
  while (at < out.byteLength) {
    const nl = out.indexOf(10, at);
    const [offset, size] = new TextDecoder().decode(out.subarray(at, nl)).split(" ").map(Number);
    messages.push({ offset, value: out.subarray(nl + 1, nl + 1 + size) });
    at = nl + 1 + size;
  }
  return messages;
}

Deno.test("kcat lists the broker and its topics", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  try {
    broker.createTopic("listed-a", 2);
    broker.createTopic("listed-b", 1);
    const text = new TextDecoder().decode(await kcat(["-b", broker.address, "-L"]));
    assert.match(
      text,
      new RegExp(`broker 1 at ${broker.address.replace(".", "\\.")} \\(controller\\)`),
    );
    assert.match(text, /topic "listed-a" with 2 partitions/);
    assert.match(text, /topic "listed-b" with 1 partitions/);
    assert.match(text, /partition 1, leader 1, replicas: 1, isrs: 1/);
  } finally {
    await broker.close();
  }
});

Deno.test("kcat produces alert files and consumes the same bytes", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const alerts = readAlerts("fink-alert-simulator-v3.1-20181129", 12);
  try {
    await kcat(["-b", broker.address, "-P", "-t", "kcat-files", ...alerts.map((a) => a.path)]);
    const got = await kcatConsume(broker, "kcat-files");
    assert.deepEqual(got.map((m) => m.offset), alerts.map((_, i) => i));
    got.forEach((m, i) => assert.ok(sameBytes(m.value, alerts[i].bytes), `offset ${i} differs`));
  } finally {
    await broker.close();
  }
});

Deno.test("kcat consumes what kafkajs produced and kafkajs consumes what kcat produced", async () => {
  const broker = await startBroker({ port: 0, dataDir: null });
  const alerts = readAlerts("fink-broker-all-distribute-20231018", 16);
  const kafka = new Kafka({
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    clientId: "interop",
  });
  try {
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: "from-kafkajs",
      messages: alerts.map((a) => ({ value: a.bytes })),
    });
    await producer.disconnect();
    const viaKcat = await kcatConsume(broker, "from-kafkajs");
    assert.equal(viaKcat.length, alerts.length);
    viaKcat.forEach((m, i) => assert.ok(sameBytes(m.value, alerts[i].bytes)));

    await kcat(["-b", broker.address, "-P", "-t", "from-kcat", ...alerts.map((a) => a.path)]);
    const consumer = kafka.consumer({ groupId: "interop", maxWaitTimeInMs: 100 });
    const received: Uint8Array[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: "from-kcat", fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        consumer.run({
          eachMessage: ({ message }) => {
            received[Number(message.offset)] = message.value!;
            if (Object.keys(received).length === alerts.length) resolve();
            return Promise.resolve();
          },
        }).catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    received.forEach((v, i) => assert.ok(sameBytes(v, alerts[i].bytes), `offset ${i} differs`));
  } finally {
    await broker.close();
  }
});
