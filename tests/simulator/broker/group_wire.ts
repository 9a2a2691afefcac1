/**
 * A wire-level client of the group coordinator's handlers for tests: encodes
 * requests with Writer, calls the handler as the connection loop would and
 * decodes the response with Reader, for every non-flexible version.
 */
import {
  createGroupCoordinator,
  type GroupCoordinator,
  type GroupCoordinatorOptions,
} from "../../../simulator/broker/group/mod.ts";
import type { HandlerContext } from "../../../simulator/broker/protocol/api.ts";
import { Reader } from "../../../simulator/broker/protocol/reader.ts";
import { Writer } from "../../../simulator/broker/protocol/writer.ts";

/** Topics known to the fake broker context: name → partition count. */
export const TOPICS: Record<string, number> = { alerts: 4, other: 2 };

/** The broker every test context advertises. */
export const BROKER = { nodeId: 1, host: "127.0.0.1", port: 9092 };

/** A coordinator plus a context to call its handlers with. */
export interface Harness {
  gc: GroupCoordinator;
  ctx: HandlerContext;
}

/** Creates a coordinator with test-friendly session timeout bounds. */
export function harness(options: Partial<GroupCoordinatorOptions> = {}): Harness {
  const gc = createGroupCoordinator({
    dataDir: null,
    broker: BROKER,
    minSessionTimeoutMs: 50,
    ...options,
  });
  const ctx: HandlerContext = {
    broker: BROKER,
    connectionId: 1,
    clientHost: "/127.0.0.1",
    partitionsOf: (topic) => TOPICS[topic],
  };
  return { gc, ctx };
}

/** One request to a handler: its API, version, body writer and client id. */
export interface WireRequest {
  apiKey: number;
  version: number;
  write: (w: Writer) => void;
  clientId?: string;
}

/** Calls the handler of `req.apiKey` with a body written by `req.write`; returns the response body. */
export async function call(
  h: Harness,
  { apiKey, version, write, clientId = "test-client" }: WireRequest,
): Promise<Reader> {
  const handler = h.gc.handlers.find((x) => x.apiKey === apiKey);
  if (!handler) throw new Error(`Expected a handler for API key ${apiKey}, found none`);
  if (version < handler.minVersion || version > handler.maxVersion) {
    throw new Error(`Version ${version} of API ${apiKey} is not advertised`);
  }
  const w = new Writer();
  write(w);
  const header = { apiKey, apiVersion: version, correlationId: 7, clientId };
  const out = await handler.handle(new Reader(w.bytes()), header, h.ctx);
  return new Reader(out.bytes());
}

/** A protocol a member offers. */
export interface Protocol {
  name: string;
  metadata: Uint8Array;
}

/** JoinGroup parameters; defaults suit a consumer. */
export interface JoinArgs {
  groupId?: string;
  memberId?: string;
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  protocolType?: string;
  protocols?: Protocol[];
  clientId?: string;
}

/** A decoded JoinGroup response. */
export interface JoinResponse {
  errorCode: number;
  generationId: number;
  protocolName: string;
  leaderId: string;
  memberId: string;
  members: { memberId: string; metadata: Uint8Array }[];
}

/** Protocols of a consumer offering `names` in that order, metadata naming the member. */
export function protocols(tag: string, ...names: string[]): Protocol[] {
  return names.map((name) => ({ name, metadata: new TextEncoder().encode(`${tag}:${name}`) }));
}

/** Sends JoinGroup at `version`. */
export async function joinGroup(h: Harness, version: number, a: JoinArgs): Promise<JoinResponse> {
  const write = (w: Writer) => {
    w.string(a.groupId ?? "g").int32(a.sessionTimeoutMs ?? 10_000);
    if (version >= 1) w.int32(a.rebalanceTimeoutMs ?? 10_000);
    w.string(a.memberId ?? "");
    if (version >= 5) w.nullableString(null);
    w.string(a.protocolType ?? "consumer");
    w.array(a.protocols ?? protocols("x", "range"), (w, p) => {
      w.string(p.name).nullableBytes(p.metadata);
    });
  };
  const r = await call(h, { apiKey: 11, version, write, clientId: a.clientId });
  if (version >= 2) r.int32();
  const res = {
    errorCode: r.int16(),
    generationId: r.int32(),
    protocolName: r.string(),
    leaderId: r.string(),
    memberId: r.string(),
    members: r.array((m) => {
      const memberId = m.string();
      if (version >= 5) m.nullableString();
      return { memberId, metadata: m.nullableBytes() ?? new Uint8Array() };
    }),
  };
  if (r.remaining !== 0) throw new Error(`JoinGroup v${version}: ${r.remaining} bytes left`);
  return res;
}

/** JoinGroup v4+ as clients do it: handshake for a member id, then join with it. */
export async function joinNew(
  h: Harness,
  a: JoinArgs & { version?: number },
): Promise<JoinResponse> {
  const version = a.version ?? 5;
  const first = await joinGroup(h, version, { ...a, memberId: "" });
  if (first.errorCode !== 79) {
    throw new Error(`Expected MEMBER_ID_REQUIRED (79), found ${first.errorCode}`);
  }
  return joinGroup(h, version, { ...a, memberId: first.memberId });
}

/** Sends SyncGroup at `version`; returns the error code and assignment. */
export async function syncGroup(
  h: Harness,
  version: number,
  a: {
    groupId?: string;
    generationId: number;
    memberId: string;
    assignments?: [string, Uint8Array][];
  },
): Promise<{ errorCode: number; assignment: Uint8Array }> {
  const write = (w: Writer) => {
    w.string(a.groupId ?? "g").int32(a.generationId).string(a.memberId);
    if (version >= 3) w.nullableString(null);
    w.array(a.assignments ?? [], (w, [id, bytes]) => w.string(id).nullableBytes(bytes));
  };
  const r = await call(h, { apiKey: 14, version, write });
  if (version >= 1) r.int32();
  const res = { errorCode: r.int16(), assignment: r.nullableBytes() ?? new Uint8Array() };
  if (r.remaining !== 0) throw new Error(`SyncGroup v${version}: ${r.remaining} bytes left`);
  return res;
}

/** Sends Heartbeat at `version`; returns the error code. */
export async function heartbeat(
  h: Harness,
  version: number,
  a: { groupId?: string; generationId: number; memberId: string },
): Promise<number> {
  const write = (w: Writer) => {
    w.string(a.groupId ?? "g").int32(a.generationId).string(a.memberId);
    if (version >= 3) w.nullableString(null);
  };
  const r = await call(h, { apiKey: 12, version, write });
  if (version >= 1) r.int32();
  return r.int16();
}

/** Sends LeaveGroup at `version` (one member before v3); returns top-level and per-member codes. */
export async function leaveGroup(
  h: Harness,
  version: number,
  { groupId, memberIds }: { groupId: string; memberIds: string[] },
): Promise<{ errorCode: number; members: { memberId: string; errorCode: number }[] }> {
  const write = (w: Writer) => {
    w.string(groupId);
    if (version >= 3) w.array(memberIds, (w, id) => w.string(id).nullableString(null));
    else w.string(memberIds[0]);
  };
  const r = await call(h, { apiKey: 13, version, write });
  if (version >= 1) r.int32();
  const errorCode = r.int16();
  const members = version >= 3
    ? r.array((m) => {
      const memberId = m.string();
      m.nullableString();
      return { memberId, errorCode: m.int16() };
    })
    : [];
  return { errorCode, members };
}

/** One partition to commit. */
export interface CommitPartition {
  topic: string;
  partition: number;
  offset: bigint;
  metadata?: string | null;
}

/** Sends OffsetCommit at `version`; returns "topic/partition" → error code. */
export async function offsetCommit(
  h: Harness,
  version: number,
  a: { groupId?: string; generationId?: number; memberId?: string; offsets: CommitPartition[] },
): Promise<Map<string, number>> {
  const byTopic = Map.groupBy(a.offsets, (o) => o.topic);
  const write = (w: Writer) => {
    w.string(a.groupId ?? "g");
    if (version >= 1) w.int32(a.generationId ?? -1).string(a.memberId ?? "");
    if (version >= 7) w.nullableString(null);
    if (version >= 2 && version <= 4) w.int64(-1n);
    w.array([...byTopic], (w, [topic, parts]) => {
      w.string(topic).array(parts, (w, p) => {
        w.int32(p.partition).int64(p.offset);
        if (version >= 6) w.int32(-1);
        if (version === 1) w.int64(-1n);
        w.nullableString(p.metadata ?? null);
      });
    });
  };
  const r = await call(h, { apiKey: 8, version, write });
  if (version >= 3) r.int32();
  const out = new Map<string, number>();
  r.array((t) => {
    const topic = t.string();
    t.array((p) => out.set(`${topic}/${p.int32()}`, p.int16()));
  });
  return out;
}

/** A fetched offset. */
export interface FetchedOffset {
  offset: bigint;
  metadata: string | null;
  errorCode: number;
}

/** Sends OffsetFetch at `version` (null topics: all); returns "topic/partition" → offset. */
export async function offsetFetch(
  h: Harness,
  version: number,
  { groupId, topics }: {
    groupId: string;
    topics: { topic: string; partitions: number[] }[] | null;
  },
): Promise<{ errorCode: number; offsets: Map<string, FetchedOffset> }> {
  const write = (w: Writer) => {
    w.string(groupId);
    w.array(topics, (w, t) => w.string(t.topic).array(t.partitions, (w, p) => w.int32(p)));
  };
  const r = await call(h, { apiKey: 9, version, write });
  if (version >= 3) r.int32();
  const offsets = new Map<string, FetchedOffset>();
  r.array((t) => {
    const topic = t.string();
    t.array((p) => {
      const key = `${topic}/${p.int32()}`;
      const offset = p.int64();
      if (version >= 5) p.int32();
      offsets.set(key, { offset, metadata: p.nullableString(), errorCode: p.int16() });
    });
  });
  const errorCode = version >= 2 ? r.int16() : 0;
  if (r.remaining !== 0) throw new Error(`OffsetFetch v${version}: ${r.remaining} bytes left`);
  return { errorCode, offsets };
}

/** Joins `count` members into group `groupId` and syncs them into a Stable generation. */
export async function stableGroup(
  h: Harness,
  { groupId, count, join = {} }: { groupId: string; count: number; join?: JoinArgs },
): Promise<{ generationId: number; leaderId: string; memberIds: string[] }> {
  const first = await joinNew(h, { ...join, groupId });
  await syncGroup(h, 3, {
    groupId,
    generationId: first.generationId,
    memberId: first.memberId,
    assignments: [],
  });
  let ids = [first.memberId];
  for (let i = 1; i < count; i++) {
    const handshake = await joinGroup(h, 5, { ...join, groupId, memberId: "" });
    const joins = [
      joinGroup(h, 5, { ...join, groupId, memberId: handshake.memberId }),
      ...ids.map((memberId) => joinGroup(h, 5, { ...join, groupId, memberId })),
    ];
    const results = await Promise.all(joins);
    ids = results.map((r) => r.memberId);
    const gen = results[0].generationId;
    await Promise.all(
      results.map((r) =>
        syncGroup(h, 3, {
          groupId,
          generationId: gen,
          memberId: r.memberId,
          assignments: r.leaderId === r.memberId ? [] : undefined,
        })
      ),
    );
  }
  const d = h.gc.describe(groupId);
  if (d?.state !== "Stable") throw new Error(`Expected group ${groupId} Stable, found ${d?.state}`);
  return { generationId: d.generationId, leaderId: d.leaderId ?? "", memberIds: ids };
}
