/**
 * What the data-plane API handlers share: the topic store, the broker options
 * they obey, the traffic counters, and a signal raised when the broker closes.
 */
import type { LogStore } from "./log/mod.ts";
import type { TransactionCoordinator } from "./txn/coordinator.ts";

/** Traffic counters of a broker since it started. */
export interface BrokerStats {
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  requests: number;
  /** Connections open now. */
  connections: number;
  /** Connections accepted since start. */
  connectionsTotal: number;
  /** Connections closed because of a protocol violation, a bad frame size or a stalled frame. */
  connectionsRejected: number;
  /** Connections closed on arrival because `maxConnections` were open. */
  connectionsRefused: number;
  /** Bytes of large request frames held now (the in-flight budget in use). */
  bytesInFlight: number;
}

/** State handed to every data-plane handler. */
export interface BrokerState {
  store: LogStore;
  /** Producer ids, sequences and open transactions, which Produce checks. */
  transactions: TransactionCoordinator;
  stats: BrokerStats;
  autoCreateTopics: boolean;
  defaultPartitions: number;
  maxMessageBytes: number;
  /** Aborted when the broker closes, so that waiting fetches answer at once. */
  closing: AbortSignal;
}

/** Counters at zero. */
export function emptyStats(): BrokerStats {
  return {
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    requests: 0,
    connections: 0,
    connectionsTotal: 0,
    connectionsRejected: 0,
    connectionsRefused: 0,
    bytesInFlight: 0,
  };
}
