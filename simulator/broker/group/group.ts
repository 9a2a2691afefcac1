/**
 * One consumer group under the classic group protocol, as Kafka's
 * GroupCoordinator runs it: Empty → PreparingRebalance → CompletingRebalance
 * → Stable, with member ids, generations, leader election, protocol
 * selection, session expiry and the rebalance timeout.
 */
import { ErrorCode } from "../protocol/api.ts";
import type { Logger } from "../../../core/log.ts";

/** Where a group stands in the classic group protocol. */
export type GroupState =
  | "Empty"
  | "PreparingRebalance"
  | "CompletingRebalance"
  | "Stable"
  | "Dead";

/** One protocol (assignor) a member offers, with its opaque subscription metadata. */
export interface GroupProtocol {
  name: string;
  metadata: Uint8Array;
}

/** A JoinGroup request, decoded. */
export interface JoinRequest {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  /** The member's address as the broker sees it. */
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: GroupProtocol[];
  /** JoinGroup v4+: a new member first receives MEMBER_ID_REQUIRED and its id. */
  requireKnownMemberId: boolean;
}

/** A member of a generation, as SyncGroup, Heartbeat and OffsetCommit name it. */
export interface MemberRef {
  generationId: number;
  memberId: string;
}

/** A SyncGroup request, decoded: assignments by member id (the leader's only). */
export interface SyncRequest extends MemberRef {
  assignments: Map<string, Uint8Array>;
}

/** One member as the leader sees it in its JoinGroup response. */
export interface JoinedMember {
  memberId: string;
  groupInstanceId: string | null;
  metadata: Uint8Array;
}

/** The answer to a JoinGroup request. */
export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolName: string;
  leaderId: string;
  memberId: string;
  /** Every member with its metadata for the chosen protocol; empty unless leader. */
  members: JoinedMember[];
}

/** The answer to a SyncGroup request. */
export interface SyncResult {
  errorCode: number;
  assignment: Uint8Array;
}

/** A member's state as reported by {@link ConsumerGroup.describe}. */
export interface MemberDescription {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  /** Its subscription for the group's protocol; empty unless the group is Stable, as Kafka says. */
  metadata: Uint8Array;
  /** Its partitions; empty unless the group is Stable. */
  assignment: Uint8Array;
}

/** A group's state as reported by {@link ConsumerGroup.describe}. */
export interface GroupDescription {
  groupId: string;
  state: GroupState;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  members: MemberDescription[];
}

interface Member {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: GroupProtocol[];
  assignment: Uint8Array;
  awaitingJoin: ((result: JoinResult) => void) | null;
  awaitingSync: ((result: SyncResult) => void) | null;
  expiryTimer: Timer | undefined;
}

type Timer = ReturnType<typeof setTimeout>;

const EMPTY = new Uint8Array(0);

/** The state machine of one consumer group; every timer it starts is cleared by {@link shutdown}. */
export class ConsumerGroup {
  #state: GroupState = "Empty";
  #generationId = 0;
  #protocolType: string | null = null;
  #protocolName: string | null = null;
  #leaderId: string | null = null;
  #members = new Map<string, Member>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, expiring after the session timeout. */
  #pending = new Map<string, Timer>();
  #joinTimer: Timer | undefined;

  constructor(readonly groupId: string, private readonly log: Logger) {}

  /** Current state of the group. */
  get state(): GroupState {
    return this.#state;
  }

  /**
   * A snapshot of the group for DescribeGroups, monitoring and tests. As Kafka's
   * GroupMetadata.summary: members' metadata and assignments only while Stable.
   */
  describe(): GroupDescription {
    const stable = this.#state === "Stable";
    return {
      groupId: this.groupId,
      state: this.#state,
      generationId: this.#generationId,
      protocolType: this.#protocolType,
      protocolName: this.#protocolName,
      leaderId: this.#leaderId,
      members: [...this.#members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        metadata: stable
          ? m.protocols.find((p) => p.name === this.#protocolName)?.metadata ?? EMPTY
          : EMPTY,
        assignment: stable ? m.assignment : EMPTY,
      })),
    };
  }

  /** Handles JoinGroup; resolves once the rebalance the member takes part in completes. */
  join(req: JoinRequest): Promise<JoinResult> {
    if (this.#state === "Dead") {
      return Promise.resolve(joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, req.memberId));
    }
    if (req.memberId === "") return this.#joinNewMember(req);
    if (this.#pending.has(req.memberId)) {
      clearTimeout(this.#pending.get(req.memberId));
      this.#pending.delete(req.memberId);
      if (!this.#supports(req.protocolType, req.protocols, null)) {
        return Promise.resolve(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.memberId));
      }
      return this.#addMember(req, req.memberId);
    }
    const member = this.#members.get(req.memberId);
    if (!member) return Promise.resolve(joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId));
    if (!this.#supports(req.protocolType, req.protocols, member.memberId)) {
      return Promise.resolve(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.memberId));
    }
    const unchanged = sameProtocols(member.protocols, req.protocols);
    switch (this.#state) {
      case "CompletingRebalance":
        // The member lost its JoinGroup response: give it the same one again.
        if (unchanged) return Promise.resolve(this.#joinResult(member));
        return this.#updateMember(member, req);
      case "Stable":
        if (unchanged && member.memberId !== this.#leaderId) {
          return Promise.resolve(this.#joinResult(member));
        }
        return this.#updateMember(member, req);
      default:
        return this.#updateMember(member, req);
    }
  }

  /** Handles SyncGroup; followers wait until the leader has sent the assignments. */
  sync({ generationId, memberId, assignments }: SyncRequest): Promise<SyncResult> | SyncResult {
    if (this.#state === "Dead") return syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    const member = this.#members.get(memberId);
    if (!member) return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
    if (generationId !== this.#generationId) return syncError(ErrorCode.ILLEGAL_GENERATION);
    if (this.#state === "PreparingRebalance") return syncError(ErrorCode.REBALANCE_IN_PROGRESS);
    this.#scheduleExpiry(member);
    if (this.#state === "Stable") {
      return { errorCode: ErrorCode.NONE, assignment: member.assignment };
    }

    // CompletingRebalance.
    member.awaitingSync?.(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
    const result = new Promise<SyncResult>((resolve) => member.awaitingSync = resolve);
    if (memberId === this.#leaderId) {
      for (const m of this.#members.values()) m.assignment = assignments.get(m.memberId) ?? EMPTY;
      this.#state = "Stable";
      this.log.info("Group is stable", {
        group: this.groupId,
        generation: this.#generationId,
        members: this.#members.size,
      });
      for (const m of this.#members.values()) {
        m.awaitingSync?.({ errorCode: ErrorCode.NONE, assignment: m.assignment });
        m.awaitingSync = null;
      }
    }
    return result;
  }

  /** Handles Heartbeat: keeps the member alive and tells it when to rejoin. */
  heartbeat({ generationId, memberId }: MemberRef): number {
    if (this.#state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const member = this.#members.get(memberId);
    if (!member) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== this.#generationId) return ErrorCode.ILLEGAL_GENERATION;
    this.#scheduleExpiry(member);
    return this.#state === "PreparingRebalance" ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  /** Handles LeaveGroup for one member. */
  leave(memberId: string): number {
    if (this.#pending.has(memberId)) {
      clearTimeout(this.#pending.get(memberId));
      this.#pending.delete(memberId);
      return ErrorCode.NONE;
    }
    const member = this.#members.get(memberId);
    if (!member) return ErrorCode.UNKNOWN_MEMBER_ID;
    this.#removeMember(member, "member left the group");
    return ErrorCode.NONE;
  }

  /**
   * Whether a member may commit offsets now. Commits with generation -1 are
   * allowed while the group has no members (the group only stores offsets);
   * commits during PreparingRebalance with the old generation are allowed so
   * consumers can commit before rejoining.
   */
  validateCommit({ generationId, memberId }: MemberRef): number {
    if (this.#state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (generationId < 0 && this.#state === "Empty") return ErrorCode.NONE;
    if (this.#state === "CompletingRebalance") return ErrorCode.REBALANCE_IN_PROGRESS;
    const member = this.#members.get(memberId);
    if (!member) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== this.#generationId) return ErrorCode.ILLEGAL_GENERATION;
    this.#scheduleExpiry(member);
    return ErrorCode.NONE;
  }

  /** Ends the group: clears every timer and answers waiting members with COORDINATOR_NOT_AVAILABLE. */
  shutdown(): void {
    clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
    for (const member of this.#members.values()) {
      clearTimeout(member.expiryTimer);
      member.awaitingJoin?.(joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, member.memberId));
      member.awaitingSync?.(syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
    }
    this.#members.clear();
    this.#state = "Dead";
  }

  #joinNewMember(req: JoinRequest): Promise<JoinResult> {
    if (!this.#supports(req.protocolType, req.protocols, null)) {
      return Promise.resolve(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, ""));
    }
    const memberId = `${req.clientId}-${crypto.randomUUID()}`;
    if (req.requireKnownMemberId && req.groupInstanceId === null) {
      const timer = setTimeout(() => {
        this.#pending.delete(memberId);
        this.#tryCompleteJoin();
      }, req.sessionTimeoutMs);
      this.#pending.set(memberId, timer);
      return Promise.resolve(joinError(ErrorCode.MEMBER_ID_REQUIRED, memberId));
    }
    return this.#addMember(req, memberId);
  }

  #addMember(req: JoinRequest, memberId: string): Promise<JoinResult> {
    const member: Member = {
      memberId,
      groupInstanceId: req.groupInstanceId,
      clientId: req.clientId,
      clientHost: req.clientHost,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      protocols: req.protocols,
      assignment: EMPTY,
      awaitingJoin: null,
      awaitingSync: null,
      expiryTimer: undefined,
    };
    const result = new Promise<JoinResult>((resolve) => member.awaitingJoin = resolve);
    if (this.#members.size === 0) this.#protocolType = req.protocolType;
    this.#members.set(memberId, member);
    this.#leaderId ??= memberId;
    this.log.debug("Member joined", { group: this.groupId, member: memberId });
    this.#rebalance(`member ${memberId} joined`);
    return result;
  }

  #updateMember(member: Member, req: JoinRequest): Promise<JoinResult> {
    member.protocols = req.protocols;
    member.sessionTimeoutMs = req.sessionTimeoutMs;
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    // A second JoinGroup from the same member replaces the first; the client gave up on it.
    member.awaitingJoin?.(joinError(ErrorCode.REBALANCE_IN_PROGRESS, member.memberId));
    const result = new Promise<JoinResult>((resolve) => member.awaitingJoin = resolve);
    this.#rebalance(`member ${member.memberId} rejoined`);
    return result;
  }

  #removeMember(member: Member, reason: string): void {
    clearTimeout(member.expiryTimer);
    member.awaitingJoin?.(joinError(ErrorCode.UNKNOWN_MEMBER_ID, member.memberId));
    member.awaitingSync?.(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    this.#members.delete(member.memberId);
    if (this.#leaderId === member.memberId) {
      this.#leaderId = this.#members.keys().next().value ?? null;
    }
    this.log.info("Member removed", { group: this.groupId, member: member.memberId, reason });
    if (this.#state !== "Empty" && this.#state !== "Dead") this.#rebalance(reason);
  }

  /** Starts a rebalance unless one is running, then completes it if everyone has rejoined. */
  #rebalance(reason: string): void {
    if (this.#state !== "PreparingRebalance") this.#prepareRebalance(reason);
    this.#tryCompleteJoin();
  }

  #prepareRebalance(reason: string): void {
    if (this.#state === "CompletingRebalance") {
      for (const m of this.#members.values()) {
        m.assignment = EMPTY;
        m.awaitingSync?.(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
        m.awaitingSync = null;
      }
    }
    this.#state = "PreparingRebalance";
    const timeoutMs = Math.max(0, ...[...this.#members.values()].map((m) => m.rebalanceTimeoutMs));
    clearTimeout(this.#joinTimer);
    this.#joinTimer = setTimeout(() => this.#completeJoin(), timeoutMs);
    this.log.info("Preparing rebalance", {
      group: this.groupId,
      generation: this.#generationId,
      reason,
    });
  }

  #tryCompleteJoin(): void {
    if (this.#state !== "PreparingRebalance" || this.#pending.size > 0) return;
    for (const m of this.#members.values()) if (!m.awaitingJoin) return;
    this.#completeJoin();
  }

  /** Ends the join phase: members that did not rejoin are dropped, the next generation starts. */
  #completeJoin(): void {
    clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
    for (const m of [...this.#members.values()]) {
      if (m.awaitingJoin) continue;
      clearTimeout(m.expiryTimer);
      m.awaitingSync?.(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
      this.#members.delete(m.memberId);
      this.log.info("Member removed", {
        group: this.groupId,
        member: m.memberId,
        reason: "did not rejoin within the rebalance timeout",
      });
    }
    if (this.#leaderId === null || !this.#members.has(this.#leaderId)) {
      this.#leaderId = this.#members.keys().next().value ?? null;
    }
    this.#generationId++;
    if (this.#members.size === 0) {
      this.#state = "Empty";
      this.#protocolType = null;
      this.#protocolName = null;
      this.log.info("Group is empty", { group: this.groupId, generation: this.#generationId });
      return;
    }
    this.#protocolName = this.#selectProtocol();
    this.#state = "CompletingRebalance";
    this.log.info("Rebalance joined", {
      group: this.groupId,
      generation: this.#generationId,
      protocol: this.#protocolName,
      leader: this.#leaderId,
      members: this.#members.size,
    });
    for (const m of this.#members.values()) {
      const answer = m.awaitingJoin;
      m.awaitingJoin = null;
      answer?.(this.#joinResult(m));
      this.#scheduleExpiry(m);
    }
  }

  #joinResult(member: Member): JoinResult {
    const protocolName = this.#protocolName ?? "";
    const isLeader = member.memberId === this.#leaderId;
    return {
      errorCode: ErrorCode.NONE,
      generationId: this.#generationId,
      protocolName,
      leaderId: this.#leaderId ?? "",
      memberId: member.memberId,
      members: isLeader
        ? [...this.#members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          metadata: m.protocols.find((p) => p.name === protocolName)?.metadata ?? EMPTY,
        }))
        : [],
    };
  }

  /** The first protocol in the leader's order that every member supports. */
  #selectProtocol(): string {
    const members = [...this.#members.values()];
    const leader = this.#members.get(this.#leaderId ?? "") ?? members[0];
    const common = leader.protocols.find((p) =>
      members.every((m) => m.protocols.some((q) => q.name === p.name))
    );
    // Admission keeps a common protocol, so falling back is only a guard.
    return (common ?? leader.protocols[0]).name;
  }

  /** Whether a member offering these protocols may be in the group (other than `self`). */
  #supports(protocolType: string, protocols: GroupProtocol[], self: string | null): boolean {
    if (protocolType === "" || protocols.length === 0) return false;
    const others = [...this.#members.values()].filter((m) => m.memberId !== self);
    if (others.length === 0) return true;
    if (protocolType !== this.#protocolType) return false;
    return protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
  }

  /**
   * (Re)arms the session timer. A member waiting for its JoinGroup or SyncGroup
   * answer is kept alive: those waits are bounded by the rebalance itself.
   */
  #scheduleExpiry(member: Member): void {
    clearTimeout(member.expiryTimer);
    member.expiryTimer = setTimeout(() => {
      member.expiryTimer = undefined;
      if (this.#members.get(member.memberId) !== member) return;
      if (member.awaitingJoin || member.awaitingSync) {
        this.#scheduleExpiry(member);
        return;
      }
      this.#removeMember(member, "session timeout expired");
    }, member.sessionTimeoutMs);
  }
}

function joinError(errorCode: number, memberId: string): JoinResult {
  return { errorCode, generationId: -1, protocolName: "", leaderId: "", memberId, members: [] };
}

function syncError(errorCode: number): SyncResult {
  return { errorCode, assignment: EMPTY };
}

function sameProtocols(a: GroupProtocol[], b: GroupProtocol[]): boolean {
  return a.length === b.length &&
    a.every((p, i) => p.name === b[i].name && sameBytes(p.metadata, b[i].metadata));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}
