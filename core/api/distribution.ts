/**
 * The distribution's endpoints: `GET /api/filters` (every filter with its
 * figures), `POST /api/filters` (token; `{"name", "where", "description"}`,
 * checked before it is kept: 400 with the reason when refused),
 * `DELETE /api/filters/:name` (token), `GET /api/streams` (figures and the
 * last alerts published per topic), and the Prometheus lines of each filter.
 */
import type { Hono, MiddlewareHandler } from "hono";
import type { DistributionService } from "../distribution/service.ts";
import { FilterError } from "../distribution/sql_filter.ts";
import type { FilterFigures } from "../distribution/status.ts";
import { ApiError } from "./errors.ts";
import { jsonResponse } from "./json.ts";

/** Adds the distribution endpoints to `app`; `control` guards the mutating ones. */
export function registerDistributionRoutes(
  app: Hono,
  distribution: DistributionService,
  control: MiddlewareHandler,
): void {
  app.get("/api/filters", (c) => jsonResponse(c, { filters: distribution.figures() }));
  app.post("/api/filters", control, async (c) => {
    let body: Record<string, unknown>;
    try {
      body = await c.req.json();
    } catch {
      throw new ApiError(
        400,
        `The body must be JSON such as {"name": "bright", "where": "candidate.magpsf < 16"}`,
      );
    }
    const name = typeof body?.name === "string" ? body.name : "";
    try {
      const filter = await distribution.define(name, body);
      return jsonResponse(c, { filter });
    } catch (e) {
      if (e instanceof FilterError) throw new ApiError(400, e.message);
      throw e;
    }
  });
  app.delete("/api/filters/:name", control, async (c) => {
    const name = c.req.param("name");
    if (!(await distribution.remove(name))) throw new ApiError(404, `No filter named ${name}`);
    return jsonResponse(c, { removed: name });
  });
  app.get("/api/streams", (c) => {
    const details = distribution.details();
    const recent = distribution.recent();
    return jsonResponse(c, {
      lag: details.lag,
      error: details.error,
      streams: distribution.figures().map((f) => ({ ...f, recent: recent[f.name] ?? [] })),
    });
  });
}

/** Prometheus lines of the filters' figures. */
export function distributionPrometheus(figures: FilterFigures[], lag: number | null): string {
  const lines: string[] = [];
  const family = (
    name: string,
    type: string,
    help: string,
    value: (f: FilterFigures) => number,
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const f of figures) {
      lines.push(`${name}{filter="${f.name}",topic="${f.topic}"} ${value(f)}`);
    }
  };
  family("fink_filter_alerts_in_total", "counter", "Alerts evaluated by the filter", (f) => f.in);
  family("fink_filter_alerts_passed_total", "counter", "Alerts the filter passed", (f) => f.passed);
  family(
    "fink_filter_alerts_published_total",
    "counter",
    "Alerts of the filter in committed transactions",
    (f) => f.published,
  );
  family(
    "fink_filter_error",
    "gauge",
    "1 when the filter failed on its last batch",
    (f) => f.error === null ? 0 : 1,
  );
  if (lag !== null) {
    lines.push(
      "# HELP fink_distribution_lag_alerts Archived offsets not yet distributed",
      "# TYPE fink_distribution_lag_alerts gauge",
      `fink_distribution_lag_alerts ${lag}`,
    );
  }
  return lines.join("\n") + "\n";
}
