/**
 * JSON answers that survive the values services report: 64-bit ids are
 * bigints (alert `candid`, offsets), which `JSON.stringify` refuses, so they
 * go out as decimal strings.
 */
import type { Context } from "hono";

/** Serializes a value as JSON, bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => typeof v === "bigint" ? v.toString() : v);
}

/** A 200 JSON response of `value` (bigint-safe). */
export function jsonResponse(c: Context, value: unknown): Response {
  return c.body(toJson(value), 200, { "content-type": "application/json; charset=utf-8" });
}
