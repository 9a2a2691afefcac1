/**
 * Group coordination for the embedded broker: FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup, OffsetCommit and OffsetFetch.
 */
import type { ApiHandler, BrokerInfo } from "../protocol/api.ts";

/** Options of {@link createGroupCoordinator}. */
export interface GroupCoordinatorOptions {
  /** Folder where committed offsets are kept; null keeps them in memory only. */
  dataDir: string | null;
  broker: BrokerInfo;
}

/** The group APIs and a way to release their timers and files. */
export interface GroupCoordinator {
  handlers: ApiHandler[];
  close(): Promise<void>;
}

/** Creates the group coordinator (stub: to be filled in). */
export function createGroupCoordinator(_options: GroupCoordinatorOptions): GroupCoordinator {
  return { handlers: [], close: () => Promise.resolve() };
}
