/**
 * The embedded Kafka-protocol broker: one process-local broker that kafkajs
 * and librdkafka (kcat) use as if it were Kafka. See README.md for the APIs,
 * the storage layout and the fsync and retention semantics.
 */
import type { ApiHandler, BrokerInfo } from "./protocol/api.ts";
import { createGroupCoordinator } from "./group/mod.ts";
import { LogStore } from "./log/mod.ts";
import { serve } from "./server.ts";
import { type BrokerState, type BrokerStats, emptyStats } from "./state.ts";
import { apiVersionsHandler } from "./apis/api_versions.ts";
import { metadataHandler } from "./apis/metadata.ts";
import { produceHandler } from "./apis/produce.ts";
import { fetchHandler } from "./apis/fetch.ts";
import { listOffsetsHandler } from "./apis/list_offsets.ts";
import { createTopicsHandler, deleteTopicsHandler } from "./apis/topics_admin.ts";
import { createTransactions } from "./txn/mod.ts";

export type { BrokerStats } from "./state.ts";

/** Node id of the broker, reported as controller, leader and coordinator. */
export const NODE_ID = 1;

/** Options of {@link startBroker}; every field has a default. */
export interface BrokerOptions {
  /** Address to bind and advertise (default 127.0.0.1). */
  host?: string;
  /** TCP port; 0 picks a free one (default 9092). */
  port?: number;
  /** Folder of the topic logs and committed offsets; null keeps everything in memory (default null). */
  dataDir?: string | null;
  /** Partitions of auto-created topics and of CreateTopics with -1 (default 1). */
  defaultPartitions?: number;
  /** Create topics named in Metadata requests (default true). */
  autoCreateTopics?: boolean;
  /** Most bytes kept per partition, -1 for no limit (default -1). */
  retentionBytes?: number;
  /** Age (ms, by record timestamp) after which a segment is deleted, -1 for no limit (default -1). */
  retentionMs?: number;
  /** Largest record batch accepted (default 16 MiB). */
  maxMessageBytes?: number;
  /** Largest request frame accepted; a bigger one closes the connection (default 100 MiB). */
  maxFrameBytes?: number;
  /** Connections open at once; more are closed as they arrive (default 1000). */
  maxConnections?: number;
  /**
   * Bytes of request frames larger than 64 KiB read or being answered at once, over all
   * connections; a connection whose frame does not fit waits (default 256 MiB).
   */
  maxInflightBytes?: number;
  /** Longest silence (ms) of a peer inside a frame before it is disconnected (default 30000). */
  frameTimeoutMs?: number;
  /** Segment size that triggers a roll (default 256 MiB). */
  segmentBytes?: number;
  /** Segment age (ms) that triggers a roll (default 1 hour). */
  segmentMs?: number;
  /** Bytes of recent batches kept in memory for Fetch in disk mode (default 256 MiB). */
  cacheBytes?: number;
  /** Interval (ms) of fdatasync of written segments (default 1000). */
  flushIntervalMs?: number;
  /** Interval (ms) of retention checks (default 30000). */
  retentionCheckMs?: number;
}

/** A running broker. */
export interface Broker {
  host: string;
  port: number;
  /** "host:port", ready for a client's bootstrap list. */
  address: string;
  /** Stops accepting, ends waiting requests, closes connections, flushes and closes files. */
  close(): Promise<void>;
  /** Creates a topic; throws when it exists or the name or count is invalid. */
  createTopic(name: string, partitions: number): void;
  /** Topics and their partition counts, sorted by name. */
  topics(): { name: string; partitions: number }[];
  /** Traffic counters since start. */
  stats(): BrokerStats;
  /** Runs retention now (it also runs every `retentionCheckMs`); returns the segments deleted. */
  enforceRetention(): number;
}

/** Starts a broker listening on `options.host:options.port`. */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const host = options.host ?? "127.0.0.1";
  const dataDir = options.dataDir ?? null;
  if (dataDir !== null) await Deno.mkdir(dataDir, { recursive: true });
  const store = LogStore.open({
    dataDir,
    retentionBytes: options.retentionBytes ?? -1,
    retentionMs: options.retentionMs ?? -1,
    segmentBytes: options.segmentBytes ?? 256 * 1024 * 1024,
    segmentMs: options.segmentMs ?? 60 * 60 * 1000,
    cacheBytes: options.cacheBytes ?? 256 * 1024 * 1024,
    flushIntervalMs: options.flushIntervalMs ?? 1000,
    retentionCheckMs: options.retentionCheckMs ?? 30_000,
  });
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: host, port: options.port ?? 9092, transport: "tcp" });
  } catch (error) {
    store.close();
    throw error;
  }
  const advertised = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const broker: BrokerInfo = { nodeId: NODE_ID, host: advertised, port: listener.addr.port };
  const closing = new AbortController();
  const coordinator = createGroupCoordinator({ dataDir, broker });
  const transactions = createTransactions(store, coordinator.commitOffsets);
  const state: BrokerState = {
    store,
    transactions: transactions.coordinator,
    stats: emptyStats(),
    autoCreateTopics: options.autoCreateTopics ?? true,
    defaultPartitions: options.defaultPartitions ?? 1,
    maxMessageBytes: options.maxMessageBytes ?? 16 * 1024 * 1024,
    closing: closing.signal,
  };
  const handlers = new Map<number, ApiHandler>();
  const all: ApiHandler[] = [
    apiVersionsHandler(() => [...handlers.values()]),
    metadataHandler(state),
    produceHandler(state),
    fetchHandler(state),
    listOffsetsHandler(state),
    createTopicsHandler(state),
    deleteTopicsHandler(state),
    ...coordinator.handlers,
    ...transactions.handlers,
  ];
  for (const h of all) handlers.set(h.apiKey, h);
  const server = serve({
    listener,
    handlers,
    maxFrameBytes: options.maxFrameBytes ?? 100 * 1024 * 1024,
    maxConnections: options.maxConnections ?? 1000,
    maxInflightBytes: options.maxInflightBytes ?? 256 * 1024 * 1024,
    frameTimeoutMs: options.frameTimeoutMs ?? 30_000,
    stats: state.stats,
    context: { broker, partitionsOf: (topic) => store.partitionsOf(topic) },
  });
  let closed: Promise<void> | null = null;
  return {
    host: advertised,
    port: broker.port,
    address: `${advertised}:${broker.port}`,
    close() {
      closed ??= (async () => {
        closing.abort();
        // Waiting JoinGroup/SyncGroup calls end first, or closing the server
        // would wait for them up to a client's rebalance timeout.
        await coordinator.close();
        transactions.coordinator.close();
        await server.close();
        await store.settled();
        store.close();
      })();
      return closed;
    },
    createTopic: (name, partitions) => store.createTopic(name, partitions),
    topics: () => store.topics(),
    stats: () => ({ ...state.stats, bytesInFlight: server.inflightBytes() }),
    enforceRetention: () => store.enforceRetention(),
  };
}
