/**
 * The `/api/classification` document: class counts over time (the per-minute
 * class history of core/metrics) and the classifier plugin's current counts
 * and most recent classified alerts.
 */
import type { Figures } from "../metrics/figures.ts";
import type { MetricsRecorder } from "../metrics/recorder.ts";
import type { TimeRange } from "./params.ts";

/** What the classification document is built from. */
export interface ClassificationInputs {
  recorder: MetricsRecorder;
  figures: Figures;
  range: TimeRange;
}

/** The `/api/classification` document. */
export interface ClassificationDocument {
  /** The classifier plugin and its state, or null when no such plugin is known. */
  plugin: { name: string; state: string } | null;
  /** Its output column holding the class. */
  column: string;
  from: string;
  to: string;
  step: number;
  /** Every class seen, most frequent first. */
  classes: string[];
  /** Alerts per class over the range. */
  totals: Record<string, number>;
  points: { t: number; at: string; counts: Record<string, number> }[];
  /** Alerts per class since the plugin started, or null without a classifier. */
  current: Record<string, number> | null;
  recent: NonNullable<Figures["classes"]>["recent"];
}

/** Builds the `/api/classification` document for a range. */
export function classificationDocument(inputs: ClassificationInputs): ClassificationDocument {
  const { recorder, figures, range } = inputs;
  const points = recorder.classes.query(range);
  const totals: Record<string, number> = {};
  for (const p of points) {
    for (const [name, n] of Object.entries(p.counts)) totals[name] = (totals[name] ?? 0) + n;
  }
  const current = figures.classes?.counts ?? {};
  const classes = [...new Set([...Object.keys(totals), ...Object.keys(current)])]
    .sort((a, b) =>
      (totals[b] ?? 0) - (totals[a] ?? 0) || (current[b] ?? 0) - (current[a] ?? 0) ||
      a.localeCompare(b)
    );
  return {
    plugin: figures.classes === null
      ? null
      : { name: figures.classes.plugin, state: figures.classes.state },
    column: recorder.classifier.column,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    step: range.step,
    classes,
    totals,
    points: points.map((p) => ({ t: p.t, at: new Date(p.t).toISOString(), counts: p.counts })),
    current: figures.classes?.counts ?? null,
    recent: figures.classes?.recent ?? [],
  };
}
