/**
 * Outlier detection as Fink runs it (the SNAD anomaly module, fink_science 8.41.0): for every
 * ZTF alert, the light curve of its candidate and history (plugins/anomaly/light_curve.ts),
 * the 26 `light-curve` features per band g and r (plugins/anomaly/features.ts), and the
 * anomaly score of Fink's active-anomaly-detection forest, shipped as ONNX in a model zip and
 * run by the WebAssembly ONNX runtime (plugins/anomaly/scorer.ts). Lower scores are more
 * anomalous; an alert whose bands all lack enough points is not scored (null), as in Fink.
 *
 * Config (`[plugins.anomaly]`), all optional:
 * - `model = "<zip>"`: the model behind `anomaly_score`; default the `_beta` model shipped in
 *   plugins/data/models/ (see plugins/data/README.md). Swap in next month's model here.
 * - `[plugins.anomaly.models]` `<name> = "<zip>"`: more models, one `anomaly_score_<name>`
 *   column each (`--set plugins.anomaly.models.<name>=<zip>` on the command line).
 * Relative paths start at the project root; zips must sit under a folder of `permissions.read`
 * (plugins/data/models or models/). A missing file or one that is not a Fink model zip is
 * refused at setup with its path.
 *
 * Outputs: `anomaly_score`, `anomaly_score_<name>` per extra model, and per band the 26
 * features as `lc_features_g_<feature>` / `lc_features_r_<feature>`; null where Fink gives
 * NaN or the band is absent. Rubin and i-band-only alerts get nulls.
 */
import type { Table } from "apache-arrow";
import { fileURLToPath } from "node:url";
import { isAbsolute, resolve } from "node:path";
import {
  definePlugin,
  type OutputType,
  type PluginConfig,
  type PluginContext,
  type PluginRow,
} from "../core/plugins/define.ts";
import { alertPoints, POINT_FIELDS } from "./anomaly/alert_points.ts";
import { bandFeatures, FEATURE_NAMES } from "./anomaly/features.ts";
import { alertCurves } from "./anomaly/light_curve.ts";
import { ModelZipError } from "./anomaly/model_zip.ts";
import { AnomalyModel, type BandFeatures } from "./anomaly/scorer.ts";

const PROJECT_ROOT = fileURLToPath(new URL("../", import.meta.url));
/** Folders the plugin may read model zips from, relative to the project root. */
const MODEL_FOLDERS = ["plugins/data/models", "models"];
/** The model shipped with the project. */
export const DEFAULT_MODEL = "plugins/data/models/anomaly_detection_forest_AAD_beta.zip";
const MODEL_NAME = /^[a-z0-9_]{1,40}$/;

function featureColumns(): Record<string, OutputType> {
  const out: Record<string, OutputType> = {};
  for (const band of ["g", "r"]) {
    for (const feature of FEATURE_NAMES) out[`lc_features_${band}_${feature}`] = "float64";
  }
  return out;
}

const OUTPUTS: Record<string, OutputType> = { anomaly_score: "float64", ...featureColumns() };
/** Feature column names per band, in FEATURE_NAMES order (built once, not per row). */
const BAND_COLUMNS = {
  g: FEATURE_NAMES.map((name) => `lc_features_g_${name}`),
  r: FEATURE_NAMES.map((name) => `lc_features_r_${name}`),
};

/** A configured model: its output column and zip path. */
interface ModelSpec {
  column: string;
  path: string;
  key: string;
}

/** The models the configuration asks for, the default first. */
export function modelSpecs(config: PluginConfig): ModelSpec[] {
  const main = config.model ?? DEFAULT_MODEL;
  if (typeof main !== "string" || main === "") {
    throw new Error(
      `Expected plugins.anomaly.model to be the path of a Fink model zip, found ${
        JSON.stringify(main)
      }`,
    );
  }
  const specs: ModelSpec[] = [{
    column: "anomaly_score",
    path: main,
    key: "plugins.anomaly.model",
  }];
  const extra = config.models ?? {};
  if (typeof extra !== "object" || extra === null || Array.isArray(extra)) {
    throw new Error(
      `Expected plugins.anomaly.models to be a table of name = "zip path", found ${
        JSON.stringify(extra)
      }`,
    );
  }
  for (const [name, path] of Object.entries(extra)) {
    const key = `plugins.anomaly.models.${name}`;
    if (!MODEL_NAME.test(name)) {
      throw new Error(
        `${key}: a model name must be 1-40 lower-case letters, digits or _, as it names the ` +
          `column anomaly_score_<name>`,
      );
    }
    if (typeof path !== "string" || path === "") {
      throw new Error(
        `Expected ${key} to be the path of a Fink model zip, found ${JSON.stringify(path)}`,
      );
    }
    specs.push({ column: `anomaly_score_${name}`, path, key });
  }
  return specs;
}

function outputsFor(config: PluginConfig): Record<string, OutputType> {
  const out: Record<string, OutputType> = { ...OUTPUTS };
  for (const spec of modelSpecs(config)) out[spec.column] = "float64";
  return out;
}

async function readZip(spec: ModelSpec): Promise<Uint8Array> {
  const path = isAbsolute(spec.path) ? spec.path : resolve(PROJECT_ROOT, spec.path);
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `${spec.key}: model file ${path} not found; give the path of a Fink anomaly model zip ` +
          `(relative paths start at ${PROJECT_ROOT})`,
      );
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new Error(
        `${spec.key}: model file ${path} is outside the folders this plugin may read; ` +
          `put it under ${MODEL_FOLDERS.join(" or ")} (relative to ${PROJECT_ROOT})`,
      );
    }
    throw new Error(`${spec.key}: cannot read model file ${path}: ${(e as Error).message}`);
  }
}

/** Loaded models with their output columns; set by setup. */
let models: { column: string; model: AnomalyModel }[] = [];

async function setup(ctx: PluginContext): Promise<void> {
  const loaded: { column: string; model: AnomalyModel }[] = [];
  for (const spec of modelSpecs(ctx.config)) {
    const started = performance.now();
    const bytes = await readZip(spec);
    let model: AnomalyModel;
    try {
      model = await AnomalyModel.fromZip(bytes, spec.path);
    } catch (e) {
      if (e instanceof ModelZipError) throw new Error(`${spec.key}: ${e.message}`);
      throw e;
    }
    loaded.push({ column: spec.column, model });
    ctx.log("anomaly model loaded", {
      column: spec.column,
      path: spec.path,
      bytes: bytes.length,
      loadMs: Math.round(performance.now() - started),
    });
  }
  for (const old of models) await old.model.release();
  models = loaded;
}

function ids(table: Table): (bigint | null)[] {
  // The archive keys rows by the top-level id: candid (ZTF), diaSourceId (Rubin), alertId (ELAsTiCC).
  const id = table.getChild("candid") ?? table.getChild("diaSourceId") ??
    table.getChild("alertId") ?? table.getChild("candidate")?.getChild("candid") ??
    table.getChild("diaSource")?.getChild("diaSourceId");
  if (!id) {
    throw new Error(
      `Expected a candid (ZTF), diaSourceId (Rubin) or alertId column in the batch, found ` +
        table.schema.fields.map((f) => f.name).join(", "),
    );
  }
  const out: (bigint | null)[] = new Array(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    const v = id.get(i);
    out[i] = v === null || v === undefined ? null : BigInt(v);
  }
  return out;
}

const finite = (x: number): number | null => Number.isNaN(x) ? null : x;

/**
 * Features and scores of a batch: one row per alert with an id. Exported for the benchmark
 * and the tests, which run it outside the host.
 */
export async function scoreBatch(table: Table): Promise<PluginRow[]> {
  if (table.numRows === 0) return [];
  const alertIds = ids(table);
  const candidate = table.getChild("candidate");
  const features: BandFeatures[] = alertIds.map(() => ({ g: null, r: null }));
  if (candidate) {
    const { points, starts } = alertPoints(table, candidate);
    for (let i = 0; i < features.length; i++) {
      const curves = alertCurves(points, starts[i], starts[i + 1]);
      features[i] = {
        g: curves.g ? bandFeatures(curves.g) : null,
        r: curves.r ? bandFeatures(curves.r) : null,
      };
    }
  }
  // One model at a time: the single-threaded runtime runs one session after the other anyway.
  const scores: Float64Array[] = [];
  for (const { model } of models) scores.push(await model.score(features));
  const rows: PluginRow[] = [];
  for (let i = 0; i < alertIds.length; i++) {
    const id = alertIds[i];
    if (id === null) continue;
    const row: PluginRow = { id };
    models.forEach(({ column }, m) => row[column] = finite(scores[m][i]));
    for (const band of ["g", "r"] as const) {
      const values = features[i][band];
      const columns = BAND_COLUMNS[band];
      for (let k = 0; k < columns.length; k++) {
        row[columns[k]] = values ? finite(values[k]) : null;
      }
    }
    rows.push(row);
  }
  return rows;
}

export default definePlugin({
  name: "anomaly",
  description: "Fink's outlier detection: 26 light-curve features per band and the anomaly " +
    "score of Fink's ONNX forest (lower is more anomalous)",
  version: "1.0.0",
  permissions: { read: MODEL_FOLDERS },
  kind: "stream",
  // The ids and the few fields of the light curve's points, not the 100-odd of each record.
  columns: [
    "candid",
    "diaSourceId",
    "alertId",
    "candidate.candid",
    "diaSource.diaSourceId",
    ...POINT_FIELDS.flatMap((field) => [`candidate.${field}`, `prv_candidates.${field}`]),
  ],
  outputs: OUTPUTS,
  outputsFor,
  // Live summary: how many alerts were scored, the score distribution and the lowest scores
  // (the most anomalous alerts) of the last hour. Fink's beta scores fall around -0.06..0.
  ranking: {
    column: "anomaly_score",
    order: "ascending",
    bins: [-0.2, -0.1, -0.08, -0.06, -0.05, -0.04, -0.03, -0.02, -0.01, 0, 0.05],
    top: 10,
  },
  setup,
  process: (table) => scoreBatch(table),
});
