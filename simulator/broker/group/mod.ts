/**
 * Group coordination for the embedded broker: FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch and DescribeGroups, with
 * committed offsets kept under `<dataDir>/__consumer_offsets/`.
 * See README.md beside this file for the state machine and versions.
 */
import type { ApiHandler, BrokerInfo } from "../protocol/api.ts";
import { logger } from "../../../core/log.ts";
import { Coordinator } from "./coordinator.ts";
import { describeGroupsHandler } from "./describe_groups.ts";
import { findCoordinatorHandler } from "./find_coordinator.ts";
import type { GroupDescription } from "./group.ts";
import { heartbeatHandler } from "./heartbeat.ts";
import { joinGroupHandler } from "./join_group.ts";
import { leaveGroupHandler } from "./leave_group.ts";
import { offsetCommitHandler } from "./offset_commit.ts";
import { offsetFetchHandler } from "./offset_fetch.ts";
import { type OffsetEntry, OffsetStore } from "./offset_store.ts";
import { syncGroupHandler } from "./sync_group.ts";

export type { GroupDescription, GroupState, MemberDescription } from "./group.ts";

/** Options of {@link createGroupCoordinator}. */
export interface GroupCoordinatorOptions {
  /** Folder where committed offsets are kept; null keeps them in memory only. */
  dataDir: string | null;
  broker: BrokerInfo;
  /** Shortest session timeout a member may ask for (Kafka's group.min.session.timeout.ms); default 6000. */
  minSessionTimeoutMs?: number;
  /** Longest session timeout a member may ask for (Kafka's group.max.session.timeout.ms); default 1800000. */
  maxSessionTimeoutMs?: number;
  /** Longest metadata committed with an offset (Kafka's offset.metadata.max.bytes); default 4096. */
  maxMetadataBytes?: number;
}

/** The group APIs and a way to release their timers and files. */
export interface GroupCoordinator {
  handlers: ApiHandler[];
  /** Stores offsets durably for a group, as an accepted OffsetCommit does (transactions use it). */
  commitOffsets(group: string, entries: readonly OffsetEntry[]): Promise<void>;
  /** A snapshot of a group (state, generation, members), or undefined when unknown. */
  describe(groupId: string): GroupDescription | undefined;
  /** Clears every timer, answers waiting members and waits for offset writes in flight. */
  close(): Promise<void>;
}

/**
 * Creates the group coordinator, loading committed offsets from `dataDir`.
 * Throws when an offsets file there is unreadable, naming the file.
 */
export function createGroupCoordinator(options: GroupCoordinatorOptions): GroupCoordinator {
  const log = logger("broker.group");
  const offsets = OffsetStore.open(options.dataDir, log);
  const coordinator = new Coordinator(offsets, {
    minSessionTimeoutMs: options.minSessionTimeoutMs ?? 6_000,
    maxSessionTimeoutMs: options.maxSessionTimeoutMs ?? 1_800_000,
  }, log);
  log.debug("Group coordinator ready", {
    node: options.broker.nodeId,
    offsets: offsets.dir ?? "memory",
  });
  return {
    handlers: [
      findCoordinatorHandler(),
      joinGroupHandler(coordinator),
      syncGroupHandler(coordinator),
      heartbeatHandler(coordinator),
      leaveGroupHandler(coordinator),
      offsetCommitHandler(coordinator, { maxMetadataBytes: options.maxMetadataBytes ?? 4096 }),
      offsetFetchHandler(offsets),
      describeGroupsHandler(coordinator),
    ],
    commitOffsets: (group, entries) => offsets.commit(group, entries),
    describe: (groupId) => coordinator.describe(groupId),
    close: () => coordinator.close(),
  };
}
