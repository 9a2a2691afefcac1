/**
 * `deno task bench`: every benchmark in turn, printed as one JSON document.
 * Run a single one with `deno run -A bench/<name>_bench.ts`.
 */
import { runAnomalyBench } from "./anomaly_bench.ts";
import { runApiBench } from "./api_bench.ts";
import { runArchiveBench } from "./archive_bench.ts";
import { runArchiveDrain } from "./archive_drain.ts";
import { runBrokerBench } from "./broker_bench.ts";
import { runDistributeBench } from "./distribute_bench.ts";
import { runEncodeBench } from "./encode_bench.ts";
import { runPluginsBench } from "./plugin_bench.ts";
import { runQueryBench } from "./query_bench.ts";
import { runScaleBench } from "./scale_bench.ts";
import { runXmatchBench } from "./xmatch_bench.ts";

const BENCHES: Record<string, () => Promise<unknown>> = {
  broker: () => runBrokerBench(),
  encode: () => runEncodeBench(),
  archive: () => runArchiveBench(),
  archiveWithDashboard: async () => {
    const closed = await runArchiveDrain({ alerts: 20_000, liveSeconds: 1 });
    const open = await runArchiveDrain({ alerts: 20_000, liveSeconds: 1, dashboard: true });
    return {
      alertsPerSecondPageClosed: closed.alertsPerSecond,
      alertsPerSecondPageOpen: open.alertsPerSecond,
      dropPercent: Math.round((1 - open.alertsPerSecond / closed.alertsPerSecond) * 1000) / 10,
      goalPercent: 5,
    };
  },
  xmatch: () => runXmatchBench(),
  plugins: () => runPluginsBench(),
  anomaly: () => runAnomalyBench(),
  api: () => runApiBench(),
  distribute: () => runDistributeBench(),
  query: () => runQueryBench(),
  scale: () => runScaleBench(),
};

if (import.meta.main) {
  const only = Deno.args.filter((a) => !a.startsWith("-"));
  const unknown = only.filter((name) => !(name in BENCHES));
  if (unknown.length > 0) {
    console.error(
      `error: unknown benchmark ${unknown.join(", ")}; benchmarks are ${
        Object.keys(BENCHES).join(", ")
      }`,
    );
    Deno.exit(2);
  }
  const results: Record<string, unknown> = {
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
  };
  for (const [name, run] of Object.entries(BENCHES)) {
    if (only.length > 0 && !only.includes(name)) continue;
    console.error(`bench: ${name} ...`);
    results[name] = await run();
  }
  console.log(JSON.stringify(results, null, 2));
  Deno.exit(0);
}
