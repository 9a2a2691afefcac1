/**
 * The HTTP API of the running process (Hono): status, Prometheus metrics,
 * live events, history, classification, archive, and control of the services.
 * The dashboard in `web/` is served from the same app. Endpoints are
 * documented in README.md beside this file.
 */
import { logger } from "../log.ts";
import { Hono } from "hono";
import type { Config } from "../config/mod.ts";

import type { MetricsRecorder } from "../metrics/recorder.ts";
import {
  type ServiceManager,
  ServiceRefusedError,
  UnknownServiceError,
} from "../services/manager.ts";
import type { ServiceStatus } from "../services/service.ts";
import type { HourJobStatus } from "../plugins/hour_runs.ts";
import { VERSION } from "../version.ts";
import { archiveDocument, type IndexResult } from "./archive.ts";
import type { ArchiveIndex, ArchiveIndexer } from "./archive_index.ts";
import { requireToken } from "./auth.ts";
import { distributionPrometheus, registerDistributionRoutes } from "./distribution.ts";
import type { DistributionService } from "../distribution/service.ts";
import { classificationDocument } from "./classification.ts";
import { ApiError } from "./errors.ts";
import type { PluginControl } from "../plugins/control.ts";
import { HourRangeError, parseHourRange } from "../archive/hour_range.ts";
import { jsonResponse } from "./json.ts";
import { liveStream } from "./live.ts";
import { parseFlag, parseTimeRange } from "./params.ts";
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "./prometheus.ts";
import { RequestDurations } from "./request_durations.ts";
import { statusDocument } from "./status.ts";
import { registerWebRoutes, type WebOptions } from "./web.ts";
import type { QueryEngine } from "../query/engine.ts";
import type { GroupView } from "../source/group_view.ts";
import type { Membership } from "../source/source.ts";
import { registerQueryRoutes } from "./query_routes.ts";

/** What the API reads and controls. */
export interface ApiContext {
  config: Config;
  manager: ServiceManager;
  /** Token accepted by the control endpoints. */
  token: string;
  startedAt: Date;
  /** Stops every service and ends the process. */
  shutdown(): void;
  /** The once-a-second sampler and its persisted histories (live, history, classification). */
  metrics: MetricsRecorder;
  /** Runs batch plugins over archived hours, when the process runs plugins. */
  plugins?: PluginControl;
  /** The filters and their publication, when the process distributes. */
  distribution?: DistributionService;
  /** Lists the archive storage, when the process can (see `createArchiveIndexer`). */
  archiveIndex?: ArchiveIndexer;
  /** The query engine of `/api/v1/*`, opened on first use; null when there is no archive to read. */
  query?: () => Promise<QueryEngine | null>;
  /** Where the dashboard files and chart.js are; defaults suit the project. */
  web?: WebOptions;
  /** This process's consumer group (its own place, and Kafka's view of all members). */
  group?: GroupStatus;
}

/** What the API shows of the consumer group the archive is a member of. */
export interface GroupStatus {
  /** This process's membership while its archive consumes Kafka, else null. */
  membership(): Membership | null;
  /** The group as Kafka describes it; `self` marks this process's member. */
  describe(selfMemberId: string | null): Promise<GroupView>;
}

const HOUR_MS = 3_600_000;
const log = logger("api");

/** Builds the Hono app of the API and the dashboard. */
export function createApiApp(ctx: ApiContext): Hono {
  const app = new Hono();
  const durations = new RequestDurations();
  app.use(durations.middleware());
  const control = requireToken(ctx.token);
  let lastIndex: ArchiveIndex | null = null;
  // Counts are read now; the rates are the recorder's, so every document shows the same ones.
  const figures = () => ctx.metrics.figures();

  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json({ error: err.message }, err.status);
    if (err instanceof UnknownServiceError) {
      return c.json({ error: err.message, services: ctx.manager.names() }, 404);
    }
    if (c.req.path.startsWith("/api/v1/")) {
      // The unauthenticated query API: DuckDB and filesystem errors may name absolute paths.
      log.error("query failed", { path: c.req.path, error: err.message });
      return c.json({ error: "The query failed; the process log has the details" }, 500);
    }
    return c.json({ error: err.message }, 500);
  });
  app.notFound((c) => c.json({ error: `No such endpoint: ${c.req.method} ${c.req.path}` }, 404));

  app.get("/api/status", (c) => {
    const sources = ctx.metrics.sources();
    const doc = statusDocument({
      config: ctx.config,
      startedAt: ctx.startedAt,
      services: sources.services,
      figures: ctx.metrics.figures(sources),
      index: lastIndex,
      membership: ctx.group?.membership() ?? null,
    });
    return jsonResponse(c, doc);
  });

  app.get("/api/group", async (c) => {
    if (ctx.group === undefined) {
      throw new ApiError(404, "This process archives files: it is in no consumer group");
    }
    const self = ctx.group.membership()?.memberId ?? null;
    try {
      return jsonResponse(c, { ...await ctx.group.describe(self), memberId: self });
    } catch (e) {
      throw new ApiError(
        503,
        `Cannot describe the consumer group on Kafka: ${(e as Error).message}; ` +
          `check kafka.brokers and that the brokers answer`,
      );
    }
  });

  app.get("/api/metrics", (c) => {
    let text = prometheusText(figures(), {
      version: VERSION,
      startedAt: ctx.startedAt,
      requests: durations.snapshot(),
    });
    if (ctx.distribution !== undefined) {
      text += distributionPrometheus(ctx.distribution.figures(), ctx.distribution.details().lag);
    }
    return c.body(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  });

  app.get("/api/live", (c) => liveStream(c, ctx.metrics));

  app.get("/api/history", (c) => {
    const range = parseTimeRange((name) => c.req.query(name), {
      defaultSpanMs: HOUR_MS,
      minStep: 1,
      targetPoints: 720,
      maxPoints: 20_000,
    });
    return jsonResponse(c, {
      from: new Date(range.from).toISOString(),
      to: new Date(range.to).toISOString(),
      step: range.step,
      points: ctx.metrics.rates.query(range),
    });
  });

  app.get("/api/classification", (c) => {
    const range = parseTimeRange((name) => c.req.query(name), {
      defaultSpanMs: 6 * HOUR_MS,
      minStep: 60,
      stepMultiple: 60,
      targetPoints: 360,
      maxPoints: 20_000,
    });
    return jsonResponse(
      c,
      classificationDocument({ recorder: ctx.metrics, figures: figures(), range }),
    );
  });

  app.get("/api/archive", async (c) => {
    const listing = parseFlag("listing", c.req.query("listing")) ?? true;
    const result: IndexResult = { index: null, error: null };
    if (listing && ctx.archiveIndex !== undefined) {
      try {
        result.index = lastIndex = await ctx.archiveIndex();
      } catch (e) {
        result.error = `Cannot list the archive storage: ${(e as Error).message}`;
      }
    } else if (listing) {
      result.error = "This process cannot list the archive storage";
    }
    return jsonResponse(c, archiveDocument(figures(), result));
  });

  app.get("/api/services", (c) => jsonResponse(c, { services: ctx.manager.list() }));
  app.post("/api/services/:name/:action{start|stop}", control, async (c) => {
    const { name, action } = c.req.param();
    const hours = action === "start" ? await hoursOf(c.req.raw) : undefined;
    if (hours !== undefined) return jsonResponse(c, await runHours(ctx, name, hours));
    try {
      const status = action === "start"
        ? await ctx.manager.start(name)
        : await ctx.manager.stop(name);
      return jsonResponse(c, status);
    } catch (e) {
      if (e instanceof UnknownServiceError) throw e;
      if (e instanceof ServiceRefusedError) throw new ApiError(409, e.message);
      throw new ApiError(500, `Service ${name} failed to ${action}: ${(e as Error).message}`);
    }
  });
  app.get("/api/services/:name/hours", (c) => {
    const name = c.req.param("name");
    ctx.manager.status(name);
    const job = ctx.plugins?.hoursStatus(name);
    if (job === undefined) throw new ApiError(404, `Plugin ${name} has not run over hours yet`);
    return jsonResponse(c, job);
  });
  app.post("/api/shutdown", control, (c) => {
    queueMicrotask(() => ctx.shutdown());
    return c.json({ stopping: true });
  });

  registerQueryRoutes(app, ctx.query ?? (() => Promise.resolve(null)));
  if (ctx.distribution !== undefined) {
    registerDistributionRoutes(app, ctx.distribution, control);
  }
  registerWebRoutes(app, ctx.web);
  return app;
}

/** The `hours` of a start request's JSON body (a batch plugin run), if it has one. */
async function hoursOf(request: Request): Promise<string | undefined> {
  const text = await request.text();
  if (text.trim() === "") return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(
      400,
      `The body must be JSON such as {"hours": "2020/01/01/00..2020/01/01/23"}`,
    );
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, `The body must be a JSON object such as {"hours": "..."}`);
  }
  const hours = (body as Record<string, unknown>).hours;
  if (hours !== undefined && typeof hours !== "string") {
    throw new ApiError(400, `"hours" must be a string such as "2020/01/01/00..2020/01/01/23"`);
  }
  return hours;
}

/** Starts a batch plugin's run over archived hours; the status includes the run's progress. */
async function runHours(
  ctx: ApiContext,
  name: string,
  hours: string,
): Promise<ServiceStatus & { job: HourJobStatus }> {
  const { manager, plugins: control } = ctx;
  manager.status(name); // unknown names answer 404 with the list of services
  if (control === undefined) throw new ApiError(409, "This process runs no plugins");
  try {
    const job = await control.runHours(name, parseHourRange(hours));
    return { ...manager.status(name), job };
  } catch (e) {
    if (e instanceof HourRangeError) throw new ApiError(400, e.message);
    if (e instanceof UnknownServiceError) throw e;
    throw new ApiError(409, (e as Error).message);
  }
}
