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

/** Builds the `/api/classification` document for a range. */
export function classificationDocument(inputs: ClassificationInputs): Record<string, unknown> {
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
