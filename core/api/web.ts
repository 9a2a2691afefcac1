/**
 * The dashboard: the static files of `web/` and chart.js, read from the npm
 * package installed in the project (never a CDN: the machine may be offline).
 */
import type { Hono } from "hono";
import { createRequire } from "node:module";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { ApiError } from "./errors.ts";

/** Options of {@link registerWebRoutes}. */
export interface WebOptions {
  /** Folder of the dashboard files. Default `web/` of the project. */
  webDir?: string;
  /** chart.js UMD bundle. Default: found in the project's node_modules. */
  chartJs?: string;
}

const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHART_JS = "chart.js/dist/chart.umd.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/** Serves `/` (index.html), `/<file>` from the web folder and `/vendor/chart.umd.js`. */
export function registerWebRoutes(app: Hono, options: WebOptions = {}): void {
  const webDir = resolve(options.webDir ?? join(PROJECT_ROOT, "web"));
  let chartJs: string | null | undefined = options.chartJs;

  app.get("/vendor/chart.umd.js", async (c) => {
    chartJs ??= findChartJs();
    if (chartJs === null) {
      throw new ApiError(
        404,
        `chart.js is not installed: expected ${CHART_JS} in the project's node_modules; run \`deno install\``,
      );
    }
    return c.body(await Deno.readFile(chartJs), 200, {
      "content-type": TYPES[".js"],
      "cache-control": "public, max-age=86400",
    });
  });

  app.get("/*", async (c, next) => {
    let path: string;
    try {
      path = decodeURIComponent(c.req.path === "/" ? "/index.html" : c.req.path);
    } catch {
      return next();
    }
    const file = resolve(webDir, "." + path);
    const type = TYPES[extname(file)];
    // Only files inside the web folder, of a known type, with no NUL byte in the name; anything
    // else falls through to 404.
    if (
      type === undefined || !file.startsWith(webDir + sep) || path.startsWith("/api/") ||
      path.includes("\0")
    ) {
      return next();
    }
    let body: Uint8Array<ArrayBuffer>;
    try {
      body = await Deno.readFile(file);
    } catch {
      // Missing, a folder, unreadable: a 404 either way, and the error (which holds the absolute
      // path) stays out of the answer.
      return next();
    }
    return c.body(body, 200, { "content-type": type, "cache-control": "no-cache" });
  });
}

/** The chart.js bundle in the project's node_modules (or wherever Node resolution finds it). */
export function findChartJs(): string | null {
  const candidates = [
    join(PROJECT_ROOT, "node_modules", CHART_JS),
    join(Deno.cwd(), "node_modules", CHART_JS),
  ];
  try {
    candidates.push(createRequire(join(PROJECT_ROOT, "deno.json")).resolve(CHART_JS));
  } catch {
    // Not resolvable through Node resolution either: the candidates above are all there is.
  }
  for (const candidate of candidates) {
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      continue;
    }
  }
  return null;
}
