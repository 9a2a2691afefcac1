/**
 * SyncGroup (key 14), v0–3: the leader hands out assignments, every member
 * receives its own. v1 adds the throttle time, v3 group instance ids.
 */
import type { ApiHandler } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { Coordinator } from "./coordinator.ts";

const EMPTY = new Uint8Array(0);

/** The SyncGroup handler; followers' answers wait for the leader's assignments. */
export function syncGroupHandler(coordinator: Coordinator): ApiHandler {
  return {
    apiKey: 14,
    name: "SyncGroup",
    minVersion: 0,
    maxVersion: 3,
    firstFlexibleVersion: -1,
    async handle(body, header) {
      const version = header.apiVersion;
      const groupId = body.string();
      const generationId = body.int32();
      const memberId = body.string();
      if (version >= 3) body.nullableString();
      const assignments = new Map<string, Uint8Array>();
      body.array((r) => {
        const id = r.string();
        // Copied so a member does not keep its whole request frame alive.
        assignments.set(id, r.nullableBytes()?.slice() ?? EMPTY);
      });
      const result = await coordinator.sync(groupId, { generationId, memberId, assignments });
      const w = new Writer();
      if (version >= 1) w.int32(0);
      return w.int16(result.errorCode).nullableBytes(result.assignment);
    },
  };
}
