/**
 * `deno task query <endpoint> key=value... [--json] [--config FILE] [--set key=value]`:
 * the answers of `/api/v1/<endpoint>` on the terminal, read straight from the
 * configured archive (no running process needed), as a table or as JSON.
 */
import type { Row } from "../query/engine.ts";
import { Hono } from "hono";
import { loadConfig } from "../config/mod.ts";
import { setLogLevel } from "../log.ts";
import { ApiError } from "../api/errors.ts";
import { registerQueryRoutes } from "../api/query_routes.ts";
import { QueryEngine } from "../query/engine.ts";

const ENDPOINTS = [
  "objects",
  "conesearch",
  "latests",
  "classes",
  "anomaly",
  "statistics",
  "schema",
  "cutouts",
];

/** Runs the command; returns the exit code. */
export async function runQueryCli(args: string[]): Promise<number> {
  const [endpoint, ...rest] = args;
  if (endpoint === undefined || !ENDPOINTS.includes(endpoint)) {
    console.error(
      `error: expected an endpoint, one of ${ENDPOINTS.join(", ")}, found ${
        endpoint ?? "nothing"
      }; e.g. deno task query conesearch ra=193.82 dec=9.04 radius=5`,
    );
    return 2;
  }
  const params = new URLSearchParams();
  const sets: string[] = [];
  let file: string | undefined;
  let asJson = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--json") asJson = true;
    else if (arg === "--config") file = rest[++i];
    else if (arg === "--set") sets.push(rest[++i]);
    else if (arg.includes("=") && !arg.startsWith("-")) {
      const at = arg.indexOf("=");
      params.set(arg.slice(0, at), arg.slice(at + 1));
    } else {
      console.error(`error: expected key=value, --json, --config FILE or --set k=v, found ${arg}`);
      return 2;
    }
  }
  const config = await loadConfig({ file, sets });
  setLogLevel(config.choice("log.level"));
  const engine = await QueryEngine.open({
    archiveRoot: config.string("archive.root"),
    scienceRoot: config.string("science.root"),
  });
  try {
    const app = new Hono();
    app.onError((err, c) =>
      c.json({ error: err.message }, err instanceof ApiError ? err.status : 500)
    );
    registerQueryRoutes(app, () => Promise.resolve(engine));
    const response = await app.request(`/api/v1/${endpoint}?${params}`);
    const type = response.headers.get("content-type") ?? "";
    if (!type.startsWith("application/json")) {
      await Deno.stdout.write(new Uint8Array(await response.arrayBuffer()));
      return response.ok ? 0 : 1;
    }
    const body = await response.json();
    if (!response.ok) {
      console.error(`error: ${body.error}`);
      return 1;
    }
    if (asJson || !Array.isArray(body)) console.log(JSON.stringify(body, null, 2));
    else printTable(body);
    return 0;
  } finally {
    await engine.close();
  }
}

/** Rows as an aligned text table of their scalar columns. */
function printTable(rows: Row[]): void {
  if (rows.length === 0) {
    console.log("(no rows)");
    return;
  }
  const columns = Object.keys(rows[0]).filter((c) =>
    rows.some((r) => r[c] !== null && typeof r[c] !== "object")
  );
  const cell = (v: unknown) =>
    v === null || v === undefined ? "" : typeof v === "number" ? String(+v.toFixed(6)) : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (cells: string[]) => cells.map((s, i) => s.padEnd(widths[i])).join("  ").trimEnd();
  console.log(line(columns));
  for (const r of rows) console.log(line(columns.map((c) => cell(r[c]))));
  console.log(`(${rows.length} rows)`);
}

if (import.meta.main) Deno.exit(await runQueryCli(Deno.args));
