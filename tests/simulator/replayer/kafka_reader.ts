/**
 * Test-side Kafka reading with kafkajs: every message of a topic from the beginning,
 * and the topic's total message count from its high watermarks.
 */
import { Kafka, logLevel } from "kafkajs";

/** A consumed message with its raw key and value. */
export interface ReadMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: Uint8Array;
  timestamp: number;
}

function client(brokers: string): Kafka {
  return new Kafka({ clientId: "simulator-test", brokers: [brokers], logLevel: logLevel.NOTHING });
}

/** Number of messages in the topic (sum of high watermarks). */
export async function topicSize(brokers: string, topic: string): Promise<number> {
  const admin = client(brokers).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Reads exactly `count` messages from the start of `topic`; rejects after `timeoutMs`. */
export async function readTopic(
  brokers: string,
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<ReadMessage[]> {
  const consumer = client(brokers).consumer({ groupId: `test-${crypto.randomUUID()}` });
  const messages: ReadMessage[] = [];
  const { promise: complete, resolve } = Promise.withResolvers<void>();
  await consumer.connect();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        messages.push({
          partition,
          offset: message.offset,
          key: message.key === null ? null : message.key.toString(),
          value: new Uint8Array(message.value!),
          timestamp: Number(message.timestamp),
        });
        if (messages.length >= count) resolve();
        return Promise.resolve();
      },
    });
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`read ${messages.length} of ${count} messages from ${topic}`)),
        timeoutMs,
      );
    });
    await Promise.race([complete, deadline]);
    return messages;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
}
