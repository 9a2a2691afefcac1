/**
 * The HTTP API of the running process (Hono): status, services and their
 * control. The dashboard in `web/` is served from the same app.
 */
import { Hono } from "hono";
import type { Config } from "../config/mod.ts";
import { type ServiceManager, UnknownServiceError } from "../services/manager.ts";
import { VERSION } from "../version.ts";
import { requireToken } from "./auth.ts";

/** What the API reads and controls. */
export interface ApiContext {
  config: Config;
  manager: ServiceManager;
  /** Token accepted by the control endpoints. */
  token: string;
  startedAt: Date;
  /** Stops every service and ends the process. */
  shutdown(): void;
}

/** Builds the Hono app of the API. */
export function createApiApp(ctx: ApiContext): Hono {
  const app = new Hono();
  const control = requireToken(ctx.token);

  app.onError((err, c) => {
    if (err instanceof UnknownServiceError) return c.json({ error: err.message }, 404);
    return c.json({ error: err.message }, 500);
  });
  app.notFound((c) => c.json({ error: `No such endpoint: ${c.req.method} ${c.req.path}` }, 404));

  app.get("/api/status", (c) => c.json(statusOf(ctx)));
  app.get("/api/services", (c) => c.json({ services: ctx.manager.list() }));
  app.post("/api/services/:name/:action{start|stop}", control, async (c) => {
    const { name, action } = c.req.param();
    const status = action === "start"
      ? await ctx.manager.start(name)
      : await ctx.manager.stop(name);
    return c.json(status);
  });
  app.post("/api/shutdown", control, (c) => {
    queueMicrotask(() => ctx.shutdown());
    return c.json({ stopping: true });
  });
  return app;
}

/** The `/api/status` document. */
export function statusOf(ctx: ApiContext): Record<string, unknown> {
  return {
    process: {
      pid: Deno.pid,
      version: VERSION,
      startedAt: ctx.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
    },
    config: ctx.config.toJSON(),
    services: ctx.manager.list(),
  };
}
