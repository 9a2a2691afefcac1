/**
 * The consumer groups of this broker by id, and their committed offsets: the
 * operations behind the group APIs, independent of the wire format.
 */
import { ErrorCode } from "../protocol/api.ts";
import type { Logger } from "../../../core/log.ts";
import {
  ConsumerGroup,
  type GroupDescription,
  type JoinRequest,
  type JoinResult,
  type MemberRef,
  type SyncRequest,
  type SyncResult,
} from "./group.ts";
import type { OffsetEntry, OffsetStore } from "./offset_store.ts";

/** Bounds a member's session timeout must respect, as Kafka's group.min/max.session.timeout.ms. */
export interface SessionTimeoutLimits {
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
}

/** An OffsetCommit request, decoded: who commits and the offsets that passed the partition checks. */
export interface CommitRequest extends MemberRef {
  entries: readonly OffsetEntry[];
}

/** Routes group operations to the right {@link ConsumerGroup}, creating groups on first join. */
export class Coordinator {
  #groups = new Map<string, ConsumerGroup>();
  #closed = false;

  constructor(
    readonly offsets: OffsetStore,
    private readonly limits: SessionTimeoutLimits,
    private readonly log: Logger,
  ) {}

  /** JoinGroup: validates the request, creating the group for a new member. */
  join(groupId: string, req: JoinRequest): Promise<JoinResult> {
    const fail = (errorCode: number) =>
      Promise.resolve<JoinResult>({
        errorCode,
        generationId: -1,
        protocolName: "",
        leaderId: "",
        memberId: req.memberId,
        members: [],
      });
    if (this.#closed) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (groupId === "") return fail(ErrorCode.INVALID_GROUP_ID);
    if (
      req.sessionTimeoutMs < this.limits.minSessionTimeoutMs ||
      req.sessionTimeoutMs > this.limits.maxSessionTimeoutMs
    ) {
      return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    }
    let group = this.#groups.get(groupId);
    if (!group) {
      if (req.memberId !== "") return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      group = new ConsumerGroup(groupId, this.log);
      this.#groups.set(groupId, group);
    }
    return group.join(req);
  }

  /** SyncGroup. */
  sync(groupId: string, req: SyncRequest): Promise<SyncResult> | SyncResult {
    const empty = new Uint8Array(0);
    if (this.#closed) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, assignment: empty };
    if (groupId === "") return { errorCode: ErrorCode.INVALID_GROUP_ID, assignment: empty };
    const group = this.#groups.get(groupId);
    if (!group) return { errorCode: ErrorCode.UNKNOWN_MEMBER_ID, assignment: empty };
    return group.sync(req);
  }

  /** Heartbeat. */
  heartbeat(groupId: string, member: MemberRef): number {
    if (this.#closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (groupId === "") return ErrorCode.INVALID_GROUP_ID;
    return this.#groups.get(groupId)?.heartbeat(member) ??
      ErrorCode.UNKNOWN_MEMBER_ID;
  }

  /** LeaveGroup: one error code per member id, in order. */
  leave(groupId: string, memberIds: readonly string[]): number[] {
    const group = this.#groups.get(groupId);
    return memberIds.map((id) =>
      this.#closed
        ? ErrorCode.COORDINATOR_NOT_AVAILABLE
        : group
        ? group.leave(id)
        : ErrorCode.UNKNOWN_MEMBER_ID
    );
  }

  /**
   * OffsetCommit: checks the committer's generation and membership, then stores
   * the offsets durably. Returns the error code for every partition of the request.
   */
  async commit(groupId: string, req: CommitRequest): Promise<number> {
    if (this.#closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const group = this.#groups.get(groupId);
    const allowed = group
      ? group.validateCommit(req)
      // A group unknown here only stores offsets; a generation means a member of a lost generation.
      : req.generationId < 0
      ? ErrorCode.NONE
      : ErrorCode.ILLEGAL_GENERATION;
    if (allowed !== ErrorCode.NONE) return allowed;
    try {
      await this.offsets.commit(groupId, req.entries);
      return ErrorCode.NONE;
    } catch (e) {
      this.log.error("Cannot store committed offsets", { group: groupId, error: e });
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
  }

  /** A snapshot of a group, or undefined when no member ever joined it. */
  describe(groupId: string): GroupDescription | undefined {
    return this.#groups.get(groupId)?.describe();
  }

  /** Stops every group (clearing its timers) and waits for offset writes in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const group of this.#groups.values()) group.shutdown();
    this.#groups.clear();
    await this.offsets.close();
  }
}
