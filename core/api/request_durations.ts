/**
 * How long the API takes to answer, per method, route and status code: a Hono
 * middleware feeding one histogram per label set. Routes are the app's route
 * patterns (`/api/services/:name/hours`), never the raw path, so a client
 * asking for many names cannot grow the number of series; paths no route
 * matched share the route `unmatched`.
 */
import type { MiddlewareHandler } from "hono";
import { Histogram, SHORT_SECONDS } from "../histogram.ts";
import type { LabelledHistogram } from "./prometheus.ts";

/** Request durations, by method, route and code. */
export class RequestDurations {
  #series = new Map<string, { labels: Record<string, string>; histogram: Histogram }>();

  /** The middleware that times every request. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const start = performance.now();
      await next();
      const matched = c.req.routePath;
      // The dashboard's static files match the catch-all; name them as one route.
      const route = matched === "/*" || matched === "*" || matched === undefined
        ? (c.res.status === 404 ? "unmatched" : "static")
        : matched;
      this.observe(
        { method: c.req.method, route, code: String(c.res.status) },
        (performance.now() - start) / 1000,
      );
    };
  }

  /** Records one request. */
  observe(labels: { method: string; route: string; code: string }, seconds: number): void {
    const key = `${labels.method} ${labels.route} ${labels.code}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, histogram: new Histogram(SHORT_SECONDS) };
      this.#series.set(key, series);
    }
    series.histogram.observe(seconds);
  }

  /** Every series, for the exposition. */
  snapshot(): LabelledHistogram[] {
    return [...this.#series.values()].map(({ labels, histogram }) => ({
      labels,
      histogram: histogram.snapshot(),
    }));
  }
}
