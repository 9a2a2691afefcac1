/**
 * Bearer-token check for the control endpoints.
 */
import type { MiddlewareHandler } from "hono";

/** Refuses a request whose `Authorization: Bearer <token>` header is missing or wrong. */
export function requireToken(token: string): MiddlewareHandler {
  const expected = new TextEncoder().encode(token);
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match === null) {
      return c.json({ error: "Missing bearer token: send Authorization: Bearer <ui.token>" }, 401);
    }
    if (!sameBytes(new TextEncoder().encode(match[1].trim()), expected)) {
      return c.json({ error: "Wrong bearer token" }, 401);
    }
    await next();
  };
}

/** Constant-time comparison, so the token cannot be guessed byte by byte. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
