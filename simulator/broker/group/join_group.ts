/**
 * JoinGroup (key 11), v0–5. v1 adds the rebalance timeout, v2 the throttle
 * time, v4 the MEMBER_ID_REQUIRED handshake, v5 group instance ids.
 */
import type { ApiHandler } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { Coordinator } from "./coordinator.ts";

const EMPTY = new Uint8Array(0);

/** The JoinGroup handler; its answer waits for the rebalance to complete. */
export function joinGroupHandler(coordinator: Coordinator): ApiHandler {
  return {
    apiKey: 11,
    name: "JoinGroup",
    minVersion: 0,
    maxVersion: 5,
    firstFlexibleVersion: -1,
    async handle(body, header, ctx) {
      const version = header.apiVersion;
      const groupId = body.string();
      const sessionTimeoutMs = body.int32();
      // Before v1 the session timeout doubled as the rebalance timeout.
      const rebalanceTimeoutMs = version >= 1 ? body.int32() : sessionTimeoutMs;
      const memberId = body.string();
      const groupInstanceId = version >= 5 ? body.nullableString() : null;
      const protocolType = body.string();
      // Copied so a member does not keep its whole request frame alive.
      const protocols = body.array((r) => ({
        name: r.string(),
        metadata: r.nullableBytes()?.slice() ?? EMPTY,
      }));
      const result = await coordinator.join(groupId, {
        memberId,
        groupInstanceId,
        clientId: header.clientId ?? "",
        clientHost: ctx.clientHost,
        sessionTimeoutMs,
        rebalanceTimeoutMs,
        protocolType,
        protocols,
        requireKnownMemberId: version >= 4,
      });
      const w = new Writer();
      if (version >= 2) w.int32(0);
      w.int16(result.errorCode)
        .int32(result.generationId)
        .string(result.protocolName)
        .string(result.leaderId)
        .string(result.memberId)
        .array(result.members, (w, m) => {
          w.string(m.memberId);
          if (version >= 5) w.nullableString(m.groupInstanceId);
          w.nullableBytes(m.metadata);
        });
      return w;
    },
  };
}
