/**
 * Heartbeat (key 12), v0–3: keeps a member's session alive and tells it when a
 * rebalance needs it to rejoin. v1 adds the throttle time, v3 group instance ids.
 */
import type { ApiHandler } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { Coordinator } from "./coordinator.ts";

/** The Heartbeat handler. */
export function heartbeatHandler(coordinator: Coordinator): ApiHandler {
  return {
    apiKey: 12,
    name: "Heartbeat",
    minVersion: 0,
    maxVersion: 3,
    firstFlexibleVersion: -1,
    handle(body, header) {
      const version = header.apiVersion;
      const groupId = body.string();
      const generationId = body.int32();
      const memberId = body.string();
      if (version >= 3) body.nullableString();
      const errorCode = coordinator.heartbeat(groupId, { generationId, memberId });
      const w = new Writer();
      if (version >= 1) w.int32(0);
      return w.int16(errorCode);
    },
  };
}
