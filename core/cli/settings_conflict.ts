/**
 * A `start` that finds a process already running can only start a service with
 * that process's configuration: this finds the settings given on this command
 * line (or by its environment or `--config` file) that the process does not have.
 */
import type { Config, ValueSource } from "../config/mod.ts";
import { type ConfigSummary, configSummary } from "../api/config_summary.ts";

/** The configuration part of the running process's `/api/status` document. */
export type RunningConfig = Pick<ConfigSummary, "keys" | "plugins">;

/** Options of {@link differingSettings}. */
export interface DifferingSettingsOptions {
  /** True when `--config FILE` was given: the file's values were asked for, not just defaults. */
  fileGiven: boolean;
}

/** One setting asked for here that the running process does not have. */
export interface DifferingSetting {
  key: string;
  here: unknown;
  there: unknown;
  source: ValueSource;
}

const ASKED: readonly ValueSource[] = ["env", "simulator", "flag"];

/**
 * Settings this command asks for (`--set`, `--simulator`, `FINK_*`, and with
 * `--config` the file's keys and plugin sections) whose values differ from the
 * running process's. Secrets are compared as the API shows them, redacted.
 */
export function differingSettings(
  config: Config,
  running: RunningConfig,
  options: DifferingSettingsOptions,
): DifferingSetting[] {
  const local = configSummary(config);
  const out: DifferingSetting[] = [];
  for (const [key, { value, source }] of Object.entries(local.keys)) {
    const asked = ASKED.includes(source as ValueSource) || (options.fileGiven && source === "file");
    const there = running.keys[key]?.value;
    if (asked && JSON.stringify(value) !== JSON.stringify(there)) {
      out.push({ key, here: value, there, source: source as ValueSource });
    }
  }
  if (options.fileGiven) {
    for (const name of new Set([...Object.keys(local.plugins), ...Object.keys(running.plugins)])) {
      const here = local.plugins[name];
      const there = running.plugins[name];
      if (JSON.stringify(here) !== JSON.stringify(there)) {
        out.push({
          key: `plugins.${name}`,
          here: here ?? null,
          there: there ?? null,
          source: "file",
        });
      }
    }
  }
  return out;
}
