/**
 * ApiVersions (key 18), v0-v3: lists every API this broker answers with its
 * version range. v3 is flexible. An unsupported version gets error 35 with the
 * v0 body (KIP-511), so that clients retry with a version listed there.
 */
import { type ApiHandler, ErrorCode } from "../protocol/api.ts";
import { Writer } from "../protocol/writer.ts";

/** API key of ApiVersions. */
export const API_VERSIONS_KEY = 18;

/** The ApiVersions handler, listing the handlers returned by `all()`. */
export function apiVersionsHandler(all: () => readonly ApiHandler[]): ApiHandler {
  return {
    apiKey: API_VERSIONS_KEY,
    name: "ApiVersions",
    minVersion: 0,
    maxVersion: 3,
    firstFlexibleVersion: 3,
    handle(body, header) {
      if (header.apiVersion >= 3) {
        body.compactString();
        body.compactString();
        body.taggedFields();
      }
      const apis = [...all()].sort((a, b) => a.apiKey - b.apiKey);
      const w = new Writer().int16(ErrorCode.NONE);
      if (header.apiVersion >= 3) {
        w.compactArray(apis, (w, a) => {
          w.int16(a.apiKey).int16(a.minVersion).int16(a.maxVersion).emptyTaggedFields();
        });
      } else {
        w.array(apis, (w, a) => void w.int16(a.apiKey).int16(a.minVersion).int16(a.maxVersion));
      }
      if (header.apiVersion >= 1) w.int32(0);
      if (header.apiVersion >= 3) w.emptyTaggedFields();
      return w;
    },
  };
}

/** The v0 body answering an ApiVersions request of a version this broker does not know. */
export function unsupportedApiVersionsBody(all: readonly ApiHandler[]): Writer {
  const apis = [...all].sort((a, b) => a.apiKey - b.apiKey);
  return new Writer().int16(ErrorCode.UNSUPPORTED_VERSION)
    .array(apis, (w, a) => void w.int16(a.apiKey).int16(a.minVersion).int16(a.maxVersion));
}
