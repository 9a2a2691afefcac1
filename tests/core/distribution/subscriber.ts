/**
 * Reads a distribution topic the way fink-client does: the key is the Avro
 * schema as JSON, the value one record of schemaless Avro written with it.
 * kafkajs reads read_committed (its default); kcat counts what a
 * read_committed librdkafka consumer sees.
 */
import { Buffer } from "node:buffer";
import { Kafka, logLevel } from "kafkajs";
import { avroType } from "../../../simulator/alerts/avro_type.ts";
import { waitFor } from "../../support/wait.ts";

/** Every record of `topic` decoded, once `count` arrived. */
export async function readTopic(
  brokers: string,
  topic: string,
  count: number,
): Promise<Record<string, any>[]> {
  const kafka = new Kafka({
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    clientId: "subscriber",
  });
  const consumer = kafka.consumer({
    groupId: `subscriber-${topic}-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 100,
  });
  const records: Record<string, any>[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        const type = avroType(JSON.parse(message.key!.toString()));
        records.push(type.fromBuffer(Buffer.from(message.value!)) as Record<string, any>);
        return Promise.resolve();
      },
    });
    await waitFor(`${count} records of ${topic}`, () => records.length >= count, {
      timeoutMs: 60_000,
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/**
 * Number of records a read_committed librdkafka consumer reads in `topic`, in partition 0
 * or, with `partitions: "all"`, in every partition.
 */
export async function kcatCount(
  brokers: string,
  topic: string,
  options: { partitions?: "0" | "all" } = {},
): Promise<number> {
  const only = options.partitions === "all" ? [] : ["-p", "0"];
  const out = await new Deno.Command("kcat", {
    args: [
      "-b",
      brokers,
      "-C",
      "-t",
      topic,
      ...only,
      "-o",
      "beginning",
      "-e",
      "-q",
      "-X",
      "isolation.level=read_committed",
      "-f",
      "%o\\n",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`kcat failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
}
