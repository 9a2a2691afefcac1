/**
 * What the API needs from the plugins beyond start and stop: running a batch
 * plugin over archived hours. The plugin bus implements it; the process hands
 * it to the API, which so never loads the plugin host itself.
 */
import type { HourRange } from "../archive/hour_range.ts";
import type { HourJobStatus } from "./hour_runs.ts";

/** Control of the plugins of one process. */
export interface PluginControl {
  /**
   * Runs a batch plugin over archived hours (starting it for the run when it is
   * stopped); resolves once the run is queued.
   *
   * @throws HourRangeError when nothing is archived in the range
   * @throws Error when the plugin is unknown or is not a batch plugin
   */
  runHours(name: string, range: HourRange): Promise<HourJobStatus>;
  /** The plugin's current or last run over hours, if any. */
  hoursStatus(name: string): HourJobStatus | undefined;
}
