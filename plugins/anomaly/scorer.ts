/**
 * Anomaly scores from a Fink model zip, run by the ONNX runtime compiled to WebAssembly
 * (onnxruntime-web, its wasm-only build, one thread). The runtime's .wasm is imported as
 * bytes and handed over, so loading it needs no file permission, no network and no FFI;
 * any model with Fink's interface works (input `X` float32 [N, 25], one score per row).
 *
 * Fink's rule (fink_science/ztf/anomaly_detection/processor.py at 8.41.0): the features of
 * band g (fid 1) go into `forest_r_*.onnx` and those of band r (fid 2) into `forest_g_*.onnx`
 * (Fink's variable names are swapped; the published scores only match this way); a band with
 * any NaN feature is not scored; the score is the minimum over the scored bands, NaN when
 * none is. Lower is more anomalous.
 */
import * as ort from "onnxruntime-web";
import wasmBinary from "onnxruntime-web/ort-wasm-simd-threaded.wasm" with { type: "bytes" };
import { FEATURE_NAMES, type FeatureName } from "./features.ts";
import { readModelZip } from "./model_zip.ts";

/** The 25 features the models take, in their input order (`mean_variance` is left out). */
export const MODEL_FEATURES: readonly FeatureName[] = [
  "amplitude",
  "anderson_darling_normal",
  "beyond_1_std",
  "chi2",
  "cusum",
  "kurtosis",
  "linear_fit_slope",
  "linear_fit_slope_sigma",
  "linear_trend_noise",
  "linear_trend_sigma",
  "magnitude_percentage_ratio_20_10",
  "magnitude_percentage_ratio_40_5",
  "maximum_slope",
  "median",
  "median_absolute_deviation",
  "median_buffer_range_percentage_10",
  "skew",
  "stetson_K",
  "percent_amplitude",
  "linear_fit_reduced_chi2",
  "inter_percentile_range_10",
  "linear_trend",
  "standard_deviation",
  "weighted_mean",
  "mean",
];

const COLUMNS = MODEL_FEATURES.map((name) => FEATURE_NAMES.indexOf(name));

/** An alert's features per band ({@link FEATURE_NAMES} order), null for a band it lacks. */
export interface BandFeatures {
  g: Float64Array | null;
  r: Float64Array | null;
}

let runtimeReady = false;

function prepareRuntime(): void {
  if (runtimeReady) return;
  ort.env.wasm.wasmBinary = wasmBinary;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  // The tree models declare output shape [-1] and return [N, 1]; the runtime warns every run.
  ort.env.logLevel = "error";
  runtimeReady = true;
}

/** One Fink anomaly model: a session per band. */
export class AnomalyModel {
  readonly #forestG: ort.InferenceSession;
  readonly #forestR: ort.InferenceSession;

  private constructor(forestG: ort.InferenceSession, forestR: ort.InferenceSession) {
    this.#forestG = forestG;
    this.#forestR = forestR;
  }

  /**
   * Loads the two models of a Fink model zip.
   *
   * @param where the zip's path, for error messages
   * @throws ModelZipError when the bytes are not a Fink model zip; Error when the runtime
   *   refuses a model
   */
  static async fromZip(bytes: Uint8Array, where: string): Promise<AnomalyModel> {
    const files = await readModelZip(bytes, where);
    prepareRuntime();
    const open = async (model: Uint8Array, entry: string) => {
      try {
        const session = await ort.InferenceSession.create(model, {
          executionProviders: ["wasm"],
          graphOptimizationLevel: "all",
          logSeverityLevel: 3,
        });
        if (session.inputNames.length !== 1 || session.outputNames.length < 1) {
          throw new Error(`expected one input and a score output, found ${session.inputNames}`);
        }
        return session;
      } catch (e) {
        throw new Error(
          `${where}: ${entry} is not a model the ONNX runtime can run (${
            (e as Error).message
          }); use a Fink anomaly model zip`,
        );
      }
    };
    // The runtime's Emscripten glue, seeing Node APIs, replaces the global Worker with
    // worker_threads' on its first start (for pthreads, unused with one thread); a process that
    // also runs the plugin host would then start plugin Workers without `self`. Put it back.
    const worker = globalThis.Worker;
    try {
      return new AnomalyModel(
        await open(files.forestG, "forest_g"),
        await open(files.forestR, "forest_r"),
      );
    } finally {
      if (globalThis.Worker !== worker) globalThis.Worker = worker;
    }
  }

  /** Scores alerts: one value per alert, NaN where no band could be scored. */
  async score(alerts: readonly BandFeatures[]): Promise<Float64Array> {
    const out = new Float64Array(alerts.length).fill(NaN);
    // Fink's swap: band g's features into forest_r, band r's into forest_g.
    await this.#scoreBand(this.#forestR, alerts.map((a) => a.g), out);
    await this.#scoreBand(this.#forestG, alerts.map((a) => a.r), out);
    return out;
  }

  async #scoreBand(
    session: ort.InferenceSession,
    features: (Float64Array | null)[],
    out: Float64Array,
  ): Promise<void> {
    const rows: number[] = [];
    for (let i = 0; i < features.length; i++) {
      const f = features[i];
      if (f && COLUMNS.every((c) => !Number.isNaN(f[c]))) rows.push(i);
    }
    if (rows.length === 0) return;
    const width = COLUMNS.length;
    const x = new Float32Array(rows.length * width);
    rows.forEach((row, k) => {
      const f = features[row] as Float64Array;
      for (let c = 0; c < width; c++) x[k * width + c] = f[COLUMNS[c]];
    });
    const input = new ort.Tensor("float32", x, [rows.length, width]);
    const result = await session.run({ [session.inputNames[0]]: input });
    const scores = result[session.outputNames[0]].data as Float32Array;
    input.dispose();
    for (const tensor of Object.values(result)) tensor.dispose();
    rows.forEach((row, k) => {
      const s = scores[k];
      out[row] = Number.isNaN(out[row]) ? s : Math.min(out[row], s);
    });
  }

  /** Frees both sessions. */
  async release(): Promise<void> {
    await this.#forestG.release();
    await this.#forestR.release();
  }
}
