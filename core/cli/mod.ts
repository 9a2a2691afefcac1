/**
 * The command line: `start`, `stop` and `status`, acting on the running
 * process through its API when there is one, else starting it.
 */
import { type Config, ConfigError, loadConfig } from "../config/mod.ts";
import { setLogLevel } from "../log.ts";
import type { StatusDocument } from "../api/status.ts";
import { findRunningProcess, type ProcessState } from "../process/state_file.ts";
import { availableServices, simulatorOverrides } from "../process/service_catalog.ts";
import type { HourJobStatus } from "../plugins/hour_runs.ts";
import { type Command, parseCommand, USAGE, UsageError } from "./args.ts";
import { differingSettings, type RunningConfig } from "./settings_conflict.ts";

/** Runs one command line; resolves to the process exit code. */
export async function runCli(args: string[]): Promise<number> {
  let cmd: Command;
  let config: Config;
  try {
    cmd = parseCommand(args);
    if (cmd.command === "help") {
      console.log(USAGE);
      return 0;
    }
    config = await loadConfig({ file: cmd.config, sets: cmd.sets });
    if (cmd.simulator) config = config.with(simulatorOverrides(config), "simulator");
    setLogLevel(config.choice("log.level"));
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) return usageFailure(e.message);
    throw e;
  }
  const running = await findRunningProcess(config.string("process.state_dir"));
  switch (cmd.command) {
    case "start":
      return await start(cmd, config, running);
    case "stop":
      return await stop(cmd, running);
    case "status":
      return await status(cmd, config, running);
  }
}

function usageFailure(message: string, services?: string[]): number {
  console.error(`error: ${message}`);
  if (services !== undefined) console.error(`services: ${services.join(", ")}`);
  else console.error(USAGE);
  return 2;
}

async function start(cmd: Command, config: Config, running: ProcessState | null): Promise<number> {
  const name = cmd.service!;
  const services = await availableServices(config);
  if (!services.includes(name)) return usageFailure(`Unknown service "${name}"`, services);
  if (running !== null) {
    const refusal = await settingsRefusal(cmd, config, running);
    if (refusal !== null) {
      console.error(refusal);
      return 1;
    }
  }
  if (cmd.hours !== undefined) return await runHours(cmd, config, running);
  const wanted = cmd.simulator && name !== "simulator" ? ["simulator", name] : [name];
  // The filters publish what the archive writes: on by default with a broker to publish to.
  const hasFilters = config.bool("distribution.default_filters") ||
    Object.keys(config.filters).length > 0;
  const hasBroker = cmd.simulator || config.list("distribution.brokers").length > 0;
  // Not for a files job: it ends once the archive and the stream plugins have caught up.
  const filesJob = cmd.source !== undefined;
  if (
    name === "archive" && !filesJob && config.bool("distribution.with_archive") && hasFilters &&
    hasBroker
  ) {
    wanted.push("distribute");
  }
  const toStart = wanted.filter((s) => s !== "ui");
  if (running !== null) {
    if (name === "ui") {
      console.log(`ui already runs at ${running.url}/ (pid ${running.pid})`);
      return 0;
    }
    for (const service of toStart) {
      const res = await control(running, `/api/services/${service}/start`);
      if (!res.ok) return await failure(res, `start ${service}`);
      const { state } = await res.json();
      if (state !== "running" && state !== "starting") {
        console.error(
          `error: start ${service} failed: it is ${state} after starting; see \`deno task status\``,
        );
        return 1;
      }
      console.log(`${service} started in the running process (pid ${running.pid})`);
    }
    return 0;
  }
  const { runProcess } = await import("../process/runtime.ts");
  const { formatSummary } = await import("../process/files_job.ts");
  try {
    const summary = await runProcess(config, {
      start: toStart,
      source: cmd.source?.slice("files:".length),
    });
    if (summary === null) return 0;
    for (const line of formatSummary(summary)) console.log(line);
    return summary.plugins.some((p) => p.failure !== null) ? 1 : 0;
  } catch (e) {
    if (e instanceof ConfigError) return usageFailure(e.message);
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

/**
 * Null when the running process has every setting this command asks for; else
 * the one-line error saying which differ and how to get them applied.
 */
async function settingsRefusal(
  cmd: Command,
  config: Config,
  running: ProcessState,
): Promise<string | null> {
  if (cmd.source !== undefined) {
    return `error: start ${cmd.service} refused: --source ${cmd.source} needs a process of its ` +
      `own, and one already runs (pid ${running.pid}); stop it first (\`deno task stop\`) or ` +
      `give this one its own --set process.state_dir=DIR --set ui.port=PORT`;
  }
  const res = await fetch(`${running.url}/api/status`).catch(() => null);
  if (res === null) {
    return `error: start ${cmd.service} refused: the process (pid ${running.pid}) at ` +
      `${running.url} does not answer; stop it first with \`deno task stop\``;
  }
  if (!res.ok) {
    await res.body?.cancel();
    return `error: start ${cmd.service} refused: the running process (pid ${running.pid}) ` +
      `does not report its configuration (HTTP ${res.status}); stop it first with \`deno task stop\``;
  }
  const doc = await res.json() as { config: RunningConfig };
  const differing = differingSettings(config, doc.config, { fileGiven: cmd.config !== undefined });
  if (differing.length === 0) return null;
  const FROM = { file: "--config", env: "environment", simulator: "--simulator", flag: "--set" };
  const what = differing.map((d) =>
    `${d.key}=${JSON.stringify(d.here)} (${FROM[d.source as keyof typeof FROM]}; it runs with ` +
    `${JSON.stringify(d.there)})`
  ).join(", ");
  return `error: start ${cmd.service} refused: the process already running (pid ${running.pid}) ` +
    `cannot take ${what}; stop it first (\`deno task stop\`) and start again, or run a second ` +
    `process with its own --set process.state_dir=DIR --set ui.port=PORT`;
}

async function stop(cmd: Command, running: ProcessState | null): Promise<number> {
  if (running === null) {
    console.log("No Fink process is running: nothing to stop");
    return 0;
  }
  if (cmd.service !== undefined) {
    const res = await control(running, `/api/services/${cmd.service}/stop`);
    if (!res.ok) return await failure(res, `stop ${cmd.service}`, res.status === 404 ? 2 : 1);
    const { state } = await res.json();
    if (state !== "stopped") {
      console.error(
        `error: stop ${cmd.service} failed: it is still ${state}; see \`deno task status\``,
      );
      return 1;
    }
    console.log(`${cmd.service} stopped`);
    return 0;
  }
  const res = await control(running, "/api/shutdown");
  if (!res.ok) return await failure(res, "stop");
  await waitUntilGone(running);
  console.log(`Fink process ${running.pid} stopped`);
  return 0;
}

async function status(cmd: Command, config: Config, running: ProcessState | null): Promise<number> {
  const doc = running === null ? { running: false, config: config.toJSON(), services: [] } : {
    running: true,
    ...(await (await fetch(`${running.url}/api/status`)).json() as StatusDocument),
  };
  if (cmd.json) {
    console.log(JSON.stringify(doc, null, 2));
    return 0;
  }
  if (running === null || !("process" in doc)) {
    console.log("No Fink process is running. `deno task start archive --simulator` starts one.");
    return 0;
  }
  const proc = doc.process;
  console.log(
    `Fink ${proc.version} pid ${proc.pid}, up ${proc.uptimeSeconds} s, API ${running.url}/api/status`,
  );
  for (const s of doc.services) {
    console.log(
      `  ${s.name.padEnd(12)} ${s.kind.padEnd(8)} ${s.state}${s.error ? `  (${s.error})` : ""}`,
    );
  }
  return 0;
}

function control(running: ProcessState, path: string, body?: unknown): Promise<Response> {
  return fetch(`${running.url}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${running.token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** `start <batch plugin> --hours A..B`: in the running process when there is one, else here. */
async function runHours(
  cmd: Command,
  config: Config,
  running: ProcessState | null,
): Promise<number> {
  const name = cmd.service!;
  const { HourRangeError, parseHourRange } = await import("../archive/hour_range.ts");
  let range;
  try {
    range = parseHourRange(cmd.hours!);
  } catch (e) {
    if (e instanceof HourRangeError) return usageFailure(e.message);
    throw e;
  }
  const print = (job: HourJobStatus) =>
    console.log(
      `${name}: ${job.done}/${job.hours} hours${
        job.failed.length ? `, ${job.failed.length} failed` : ""
      }` +
        `${job.current ? `, at ${job.current}` : ""}`,
    );
  let job: HourJobStatus;
  if (running !== null) {
    const res = await control(running, `/api/services/${name}/start`, { hours: cmd.hours });
    if (!res.ok) return await failure(res, `start ${name} --hours`, res.status === 400 ? 2 : 1);
    await res.body?.cancel();
    console.log(`${name} runs over ${cmd.hours} in the running process (pid ${running.pid})`);
    job = await followJob(running, name, print);
  } else {
    const { runBatchPlugin } = await import("../plugins/bus.ts");
    try {
      job = await runBatchPlugin(config, name, range, print);
    } catch (e) {
      console.error(`error: start ${name} --hours failed: ${(e as Error).message}`);
      return e instanceof HourRangeError ? 2 : 1;
    }
  }
  print(job);
  if (job.state !== "done") {
    console.error(
      `error: ${name} failed on ${job.failed.join(", ")}: ${job.error ?? "see the log"}`,
    );
    return 1;
  }
  if (job.missing > 0) console.log(`${job.missing} hours of the range hold no archive`);
  return 0;
}

/** Polls the running process until the plugin's run over hours has finished. */
async function followJob(
  running: ProcessState,
  name: string,
  print: (job: HourJobStatus) => void,
): Promise<HourJobStatus> {
  let shown = -1;
  for (;;) {
    const res = await fetch(`${running.url}/api/services/${name}/hours`);
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(`The process stopped reporting ${name}'s run: ${body.error ?? res.status}`);
    }
    const job = await res.json() as HourJobStatus;
    if (job.state === "done" || job.state === "failed") return job;
    if (job.done !== shown) {
      shown = job.done;
      print(job);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function failure(res: Response, what: string, code = 1): Promise<number> {
  const body = await res.json().catch(() => ({ error: res.statusText }));
  console.error(`error: ${what} failed: ${body.error ?? res.statusText}`);
  if (body.services) console.error(`services: ${body.services.join(", ")}`);
  return code;
}

/** Waits until the stopped process no longer answers (bounded). */
async function waitUntilGone(running: ProcessState): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${running.url}/api/status`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
