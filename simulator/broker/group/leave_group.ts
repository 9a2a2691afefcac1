/**
 * LeaveGroup (key 13), v0–3: members leave and the group rebalances without
 * waiting for their sessions to expire. v1 adds the throttle time, v3 a batch
 * of members with an error code each.
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { Coordinator } from "./coordinator.ts";

/** The LeaveGroup handler. */
export function leaveGroupHandler(coordinator: Coordinator): ApiHandler {
  return {
    apiKey: 13,
    name: "LeaveGroup",
    minVersion: 0,
    maxVersion: 3,
    firstFlexibleVersion: -1,
    handle(body, header) {
      const version = header.apiVersion;
      const groupId = body.string();
      const members = version >= 3
        ? body.array((r) => ({ memberId: r.string(), groupInstanceId: r.nullableString() }))
        : [{ memberId: body.string(), groupInstanceId: null }];
      const w = new Writer();
      if (version >= 1) w.int32(0);
      if (groupId === "") {
        w.int16(ErrorCode.INVALID_GROUP_ID);
        return version >= 3 ? w.array([], () => {}) : w;
      }
      const errors = coordinator.leave(groupId, members.map((m) => m.memberId));
      if (version < 3) return w.int16(errors[0]);
      const results = members.map((m, i) => ({ ...m, errorCode: errors[i] }));
      return w.int16(ErrorCode.NONE).array(results, (w, m) => {
        w.string(m.memberId).nullableString(m.groupInstanceId).int16(m.errorCode);
      });
    },
  };
}
