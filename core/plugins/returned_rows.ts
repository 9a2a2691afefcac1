/**
 * A plugin process's answer to one batch, checked again by the host: the
 * plugin's code could write frames itself, bypassing its process's own checks.
 * The rows must match the declared outputs and name alerts of the batch; the
 * alerts `process` threw on get a row of nulls each.
 */
import { tableFromIPC } from "apache-arrow";
import type { BatchRange } from "./failure_text.ts";
import { oneLine } from "./failure_text.ts";
import type { OutputType, PluginRow } from "./define.ts";
import type { AlertFailure } from "./protocol.ts";
import { tableToRows } from "./result_table.ts";
import { checkRows } from "./rows.ts";

/** The alerts of a batch the rows are checked against. */
export interface ReturnedBatch extends BatchRange {
  /** Alert id of each row, in order. */
  ids: ArrayLike<bigint>;
  /** Event hour of each alert id. */
  hourById: Map<bigint, number>;
}

/** The checked rows of one batch. */
export interface BatchRows {
  /** The rows returned, then one row of nulls per failed alert. */
  rows: PluginRow[];
  /** Event hour of each row, in the same order. */
  eventHours: number[];
  /** The alerts `process` threw on, with the reason (one line). */
  failedAlerts: { id: string; reason: string }[];
}

/**
 * Checks the `rows` frame of one batch: `payload` is the Arrow IPC result table,
 * `failures` the alerts its process isolated.
 *
 * @throws Error saying, after the plugin's name, what `process()` returned wrong
 */
export function returnedRows(
  payload: Uint8Array,
  options: { batch: ReturnedBatch; failures: AlertFailure[]; outputs: Record<string, OutputType> },
): BatchRows {
  const { batch, failures, outputs } = options;
  let rows: PluginRow[];
  const failedAlerts: BatchRows["failedAlerts"] = [];
  try {
    rows = checkRows(tableToRows(tableFromIPC(payload), outputs), outputs);
    if (!Array.isArray(failures)) throw new Error("the failed alerts are not a list");
    const nulls = Object.fromEntries(Object.keys(outputs).map((c) => [c, null]));
    for (const failure of failures) {
      const id = batch.ids[failure.row];
      if (!Number.isInteger(failure.row) || id === undefined) {
        throw new Error(`failed alert row ${failure.row} is not in the batch`);
      }
      failedAlerts.push({ id: String(id), reason: oneLine(String(failure.reason)) });
      rows.push({ id, ...nulls });
    }
  } catch (error) {
    throw new Error(`process() returned invalid rows: ${(error as Error).message}`);
  }
  const eventHours: number[] = [];
  for (const row of rows) {
    const hour = batch.hourById.get(row.id);
    if (hour === undefined) {
      throw new Error(
        `process() returned id ${row.id}, which is not in the batch; ` +
          `return the ids of the alerts it was given`,
      );
    }
    eventHours.push(hour);
  }
  return { rows, eventHours, failedAlerts };
}
