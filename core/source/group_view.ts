/**
 * The consumer group as Kafka describes it, for an operator looking at one
 * node: every member (client id, host), the partitions each holds and the lag
 * of each, from DescribeGroups, the group's committed offsets (OffsetFetch)
 * and the partitions' high watermarks (ListOffsets). Nothing here is a
 * registry of ours: a node that never answered our API still shows, and a
 * member Kafka dropped is gone. Partitions no member holds (a rebalance in
 * progress, a group with no members) are listed apart.
 */
import { type Admin, AssignerProtocol, Kafka, logLevel } from "kafkajs";
import "./kafkajs_timer_fix.ts";

/** One partition in the group view: the group's committed offset and what is left to read. */
export interface GroupPartition {
  topic: string;
  partition: number;
  /** The group's committed offset (the next offset to read), null when it never committed. */
  committed: string | null;
  /** The partition's high watermark. */
  high: string;
  /** Messages after the committed offset (after the log start when nothing was committed). */
  lag: number;
}

/** One member of the group. */
export interface GroupMember {
  memberId: string;
  clientId: string;
  /** The member's address as the coordinator sees it (`/10.0.0.5`). */
  clientHost: string;
  /** Whether this is the process answering. */
  self: boolean;
  partitions: GroupPartition[];
  /** Sum of its partitions' lag. */
  lag: number;
}

/** The whole group. */
export interface GroupView {
  group: string;
  /** Kafka's group state: Stable, PreparingRebalance, CompletingRebalance, Empty or Dead. */
  state: string;
  /** The partition assignor the members agreed on ("" while rebalancing). */
  protocol: string;
  /** When the view was read (ISO time). */
  at: string;
  members: GroupMember[];
  /** Partitions of the group's topics that no member holds now. */
  unassigned: GroupPartition[];
}

/** Options of {@link GroupDescriber}. */
export interface GroupDescriberOptions {
  brokers: string[];
  group: string;
  clientId: string;
  /** A view is reused this long, so a dashboard per operator does not multiply requests (ms). */
  cacheMs?: number;
}

/** Reads {@link GroupView}s of one group with its own admin client. */
export class GroupDescriber {
  readonly #options: GroupDescriberOptions;
  readonly #admin: Admin;
  #connected: Promise<void> | null = null;
  #cached: { at: number; view: Promise<RawView> } | null = null;

  /** A describer; nothing is contacted until the first {@link describe}. */
  constructor(options: GroupDescriberOptions) {
    this.#options = options;
    const kafka = new Kafka({
      brokers: options.brokers,
      clientId: `${options.clientId}-group-view`,
      logLevel: logLevel.NOTHING,
      retry: { retries: 2, initialRetryTime: 200 },
    });
    this.#admin = kafka.admin();
  }

  /** The group now; `self` marks the member whose id is `selfMemberId`. */
  async describe(selfMemberId: string | null): Promise<GroupView> {
    const now = Date.now();
    if (this.#cached === null || now - this.#cached.at > (this.#options.cacheMs ?? 1000)) {
      const view = this.#read();
      this.#cached = { at: now, view };
      // A failed read is not reused: the next call tries again.
      view.catch(() => {
        if (this.#cached?.view === view) this.#cached = null;
      });
    }
    const raw = await this.#cached.view;
    return {
      ...raw,
      members: raw.members.map(({ partitions, ...m }) => ({
        ...m,
        self: m.memberId === selfMemberId,
        partitions,
        lag: partitions.reduce((sum, p) => sum + p.lag, 0),
      })),
    };
  }

  /** Disconnects the admin client. */
  async close(): Promise<void> {
    await this.#admin.disconnect().catch(() => {});
  }

  async #read(): Promise<RawView> {
    this.#connected ??= this.#admin.connect().catch((error) => {
      this.#connected = null;
      throw error;
    });
    await this.#connected;
    const groupId = this.#options.group;
    const { groups: [described] } = await this.#admin.describeGroups([groupId]);
    const assignments = described.members.map((m) => ({
      member: m,
      assignment: decodeAssignment(m.memberAssignment),
    }));
    const committed = new Map<string, string>();
    for (const { topic, partitions } of await this.#admin.fetchOffsets({ groupId })) {
      for (const p of partitions) committed.set(`${topic}\0${p.partition}`, p.offset);
    }
    const topics = new Set([
      ...[...committed.keys()].map((k) => k.slice(0, k.indexOf("\0"))),
      ...assignments.flatMap((a) => Object.keys(a.assignment)),
    ]);
    const partitions = new Map<string, GroupPartition>();
    for (const topic of [...topics].sort()) {
      for (const o of await this.#admin.fetchTopicOffsets(topic)) {
        const key = `${topic}\0${o.partition}`;
        const offset = committed.get(key);
        const start = offset === undefined || offset === "-1" ? BigInt(o.low) : BigInt(offset);
        partitions.set(key, {
          topic,
          partition: o.partition,
          committed: offset === undefined || offset === "-1" ? null : offset,
          high: o.high,
          lag: Math.max(0, Number(BigInt(o.high) - start)),
        });
      }
    }
    const held = new Set<string>();
    const members: Raw[] = assignments.map(({ member, assignment }) => {
      const mine: GroupPartition[] = [];
      for (const [topic, numbers] of Object.entries(assignment).sort()) {
        for (const partition of [...numbers].sort((a, b) => a - b)) {
          const key = `${topic}\0${partition}`;
          held.add(key);
          mine.push(
            partitions.get(key) ?? { topic, partition, committed: null, high: "0", lag: 0 },
          );
        }
      }
      return {
        memberId: member.memberId,
        clientId: member.clientId,
        clientHost: member.clientHost,
        partitions: mine,
      };
    });
    members.sort((a, b) =>
      a.clientId.localeCompare(b.clientId) || a.memberId.localeCompare(b.memberId)
    );
    return {
      group: groupId,
      state: described.state,
      protocol: described.protocol,
      at: new Date().toISOString(),
      members,
      unassigned: [...partitions.entries()].filter(([key]) => !held.has(key)).map(([, p]) => p),
    };
  }
}

/** A member before `self` and the lag sum are added. */
type Raw = Omit<GroupMember, "self" | "lag">;

/** The view as read from Kafka, shared by every caller within the cache time. */
type RawView = Omit<GroupView, "members"> & { members: Raw[] };

/** The partitions of a member's assignment bytes; none while the group rebalances (empty bytes). */
function decodeAssignment(bytes: Uint8Array): Record<string, number[]> {
  if (bytes.byteLength === 0) return {};
  // kafkajs types the decoder as taking a Buffer; it only reads the bytes.
  const decoded = AssignerProtocol.MemberAssignment.decode(
    bytes as Parameters<
      typeof AssignerProtocol.MemberAssignment.decode
    >[0],
  );
  return decoded?.assignment ?? {};
}
