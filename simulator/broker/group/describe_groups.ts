/**
 * DescribeGroups (key 15), v0–4: each group's state, protocol and members with
 * their client id and host, subscription and assignment (those two only while
 * the group is Stable, as Kafka answers). v1 adds the throttle time, v3 the
 * authorized operations (not computed here: Kafka's "not requested" value),
 * v4 group instance ids. An unknown group is "Dead" with no members.
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";
import type { Coordinator } from "./coordinator.ts";

/** What Kafka answers for authorized operations when the request did not ask for them. */
const OPERATIONS_NOT_REQUESTED = -2147483648;

/** The DescribeGroups handler. */
export function describeGroupsHandler(coordinator: Coordinator): ApiHandler {
  return {
    apiKey: 15,
    name: "DescribeGroups",
    minVersion: 0,
    maxVersion: 4,
    firstFlexibleVersion: -1,
    handle(body, header) {
      const version = header.apiVersion;
      const groupIds = body.array((r) => r.string());
      if (version >= 3) body.boolean();
      const w = new Writer();
      if (version >= 1) w.int32(0);
      return w.array(groupIds, (w, groupId) => {
        const group = coordinator.describe(groupId);
        w.int16(groupId === "" ? ErrorCode.INVALID_GROUP_ID : ErrorCode.NONE)
          .string(groupId)
          .string(group?.state ?? "Dead")
          .string(group?.protocolType ?? "")
          .string(group?.state === "Stable" ? group.protocolName ?? "" : "")
          .array(group?.members ?? [], (w, m) => {
            w.string(m.memberId);
            if (version >= 4) w.nullableString(m.groupInstanceId);
            w.string(m.clientId).string(m.clientHost).nullableBytes(m.metadata)
              .nullableBytes(m.assignment);
          });
        if (version >= 3) w.int32(OPERATIONS_NOT_REQUESTED);
      });
    },
  };
}
