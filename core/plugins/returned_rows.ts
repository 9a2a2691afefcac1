/**
 * A plugin process's answer to one batch, checked again by the host: the
 * plugin's code could write frames itself, bypassing its process's own checks.
 * The rows must match the declared outputs and name alerts of the batch; the
 * alerts `process` threw on come apart, with their reasons. A result file
 * gives each of those a row of nulls ({@link resultRows}); a ticket that takes
 * the rows itself (a filter's) gets them as they are.
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

/** An alert `process` threw on, isolated by its process. */
export interface FailedAlert {
  id: bigint;
  /** Why, in one line. */
  reason: string;
}

/** The checked rows of one batch. */
export interface BatchRows {
  /** The rows `process` returned. */
  rows: PluginRow[];
  /** The alerts `process` threw on. */
  failed: FailedAlert[];
  /** Event hour of each row, then of each failed alert, in the same order. */
  eventHours: number[];
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
  const failed: FailedAlert[] = [];
  try {
    rows = checkRows(tableToRows(tableFromIPC(payload), outputs), outputs);
    if (!Array.isArray(failures)) throw new Error("the failed alerts are not a list");
    for (const failure of failures) {
      const id = batch.ids[failure.row];
      if (!Number.isInteger(failure.row) || id === undefined) {
        throw new Error(`failed alert row ${failure.row} is not in the batch`);
      }
      failed.push({ id, reason: oneLine(String(failure.reason)) });
    }
  } catch (error) {
    throw new Error(`process() returned invalid rows: ${(error as Error).message}`);
  }
  const eventHours: number[] = [];
  for (const { id } of [...rows, ...failed]) {
    const hour = batch.hourById.get(id);
    if (hour === undefined) {
      throw new Error(
        `process() returned id ${id}, which is not in the batch; ` +
          `return the ids of the alerts it was given`,
      );
    }
    eventHours.push(hour);
  }
  return { rows, failed, eventHours };
}

/**
 * The rows a result file holds for the batch: those returned, then a row of
 * null outputs for each failed alert (the order of {@link BatchRows.eventHours}).
 */
export function resultRows(checked: BatchRows, outputs: Record<string, OutputType>): PluginRow[] {
  const nulls = Object.fromEntries(Object.keys(outputs).map((c) => [c, null]));
  return [...checked.rows, ...checked.failed.map(({ id }) => ({ id, ...nulls }))];
}
