/**
 * FindCoordinator (key 10), v0–2: this single broker coordinates every group
 * and every transactional id.
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";

const GROUP_KEY_TYPE = 0;
const TRANSACTION_KEY_TYPE = 1;

/** The FindCoordinator handler. */
export function findCoordinatorHandler(): ApiHandler {
  return {
    apiKey: 10,
    name: "FindCoordinator",
    minVersion: 0,
    maxVersion: 2,
    firstFlexibleVersion: -1,
    handle(body, header, ctx) {
      const version = header.apiVersion;
      body.string();
      const keyType = version >= 1 ? body.int8() : GROUP_KEY_TYPE;
      let errorCode: number = ErrorCode.NONE;
      let message: string | null = null;
      if (keyType !== GROUP_KEY_TYPE && keyType !== TRANSACTION_KEY_TYPE) {
        errorCode = ErrorCode.INVALID_REQUEST;
        message = `Expected key type 0 (group) or 1 (transaction), found ${keyType}`;
      }
      const w = new Writer();
      if (version >= 1) w.int32(0);
      w.int16(errorCode);
      if (version >= 1) w.nullableString(message);
      const node = errorCode === ErrorCode.NONE ? ctx.broker : { nodeId: -1, host: "", port: -1 };
      return w.int32(node.nodeId).string(node.host).int32(node.port);
    },
  };
}
