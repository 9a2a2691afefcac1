/**
 * The contract between the broker's connection loop and the code that answers
 * each Kafka API. One {@link ApiHandler} per API key; the connection loop parses
 * the request header, checks the version range, calls `handle` and frames the
 * response (response header v1 with tagged fields for flexible versions,
 * except ApiVersions which always answers with header v0).
 */
import type { Reader } from "./reader.ts";
import { Writer } from "./writer.ts";

/** The request header fields every handler may need. */
export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/** Where this broker can be reached, as advertised in Metadata and FindCoordinator. */
export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
}

/** What a handler may know of the connection and the broker it runs in. */
export interface HandlerContext {
  broker: BrokerInfo;
  /** Distinct per TCP connection, stable for its lifetime. */
  connectionId: number;
  /** The client's address as this broker sees it (`/127.0.0.1`, as Kafka reports it). */
  clientHost: string;
  /** Number of partitions of a topic, or undefined when the topic does not exist. */
  partitionsOf(topic: string): number | undefined;
}

/** Answers one Kafka API over a range of versions. */
export interface ApiHandler {
  apiKey: number;
  name: string;
  minVersion: number;
  maxVersion: number;
  /** First version using compact types and tagged fields; -1 when none in range. */
  firstFlexibleVersion: number;
  /**
   * Reads the request body (after the header) and writes the response body
   * (after the response header). May wait, e.g. Fetch's long poll or JoinGroup.
   */
  handle(body: Reader, header: RequestHeader, ctx: HandlerContext): Promise<Writer> | Writer;
}

/**
 * Returned by a handler whose request must get no response at all (Produce
 * with acks=0); the connection loop compares by identity and writes nothing.
 */
export const NO_RESPONSE: Writer = new Writer();

/** Kafka error codes used by this broker. */
export const ErrorCode = {
  UNKNOWN_SERVER_ERROR: -1,
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  INVALID_FETCH_SIZE: 4,
  NOT_LEADER_OR_FOLLOWER: 6,
  REQUEST_TIMED_OUT: 7,
  MESSAGE_TOO_LARGE: 10,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  INVALID_TOPIC_EXCEPTION: 17,
  RECORD_LIST_TOO_LARGE: 18,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  INVALID_COMMIT_OFFSET_SIZE: 28,
  UNSUPPORTED_VERSION: 35,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PARTITIONS: 37,
  INVALID_REPLICATION_FACTOR: 38,
  INVALID_REQUEST: 42,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  INVALID_PRODUCER_EPOCH: 47,
  INVALID_TXN_STATE: 48,
  INVALID_PRODUCER_ID_MAPPING: 49,
  INVALID_TRANSACTION_TIMEOUT: 50,
  CONCURRENT_TRANSACTIONS: 51,
  KAFKA_STORAGE_ERROR: 56,
  MEMBER_ID_REQUIRED: 79,
  UNKNOWN_TOPIC_ID: 100,
} as const;
