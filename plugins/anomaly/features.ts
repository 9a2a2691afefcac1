/**
 * The 26 light-curve features Fink's SNAD anomaly module computes per band, with the
 * definitions of the `light-curve` package (Rust crate `light-curve-feature`, called by
 * fink_science/ztf/ad_features/processor.py). Each feature follows the crate's published
 * definition, including its minimum number of points and its refusal of flat light curves;
 * a feature the crate cannot evaluate is NaN, as Fink's `fill_value=np.nan` makes it.
 *
 * Computed in float64 as Fink does (its inputs are cast to float64 before the extractor).
 */

/** Feature names in the order of Fink's extractor (`create_extractor().names`). */
export const FEATURE_NAMES = [
  "mean",
  "weighted_mean",
  "standard_deviation",
  "median",
  "amplitude",
  "beyond_1_std",
  "cusum",
  "inter_percentile_range_10",
  "kurtosis",
  "linear_trend",
  "linear_trend_sigma",
  "linear_trend_noise",
  "linear_fit_slope",
  "linear_fit_slope_sigma",
  "linear_fit_reduced_chi2",
  "magnitude_percentage_ratio_40_5",
  "magnitude_percentage_ratio_20_10",
  "maximum_slope",
  "median_absolute_deviation",
  "median_buffer_range_percentage_10",
  "percent_amplitude",
  "mean_variance",
  "anderson_darling_normal",
  "chi2",
  "skew",
  "stetson_K",
] as const;

/** One feature name. */
export type FeatureName = typeof FEATURE_NAMES[number];

/** One band's light curve: times sorted ascending, magnitudes and their 1-sigma errors. */
export interface BandCurve {
  t: Float64Array;
  m: Float64Array;
  sigma: Float64Array;
}

const INDEX = Object.fromEntries(FEATURE_NAMES.map((name, i) => [name, i])) as Record<
  FeatureName,
  number
>;

/**
 * The 26 features of one band's light curve, in {@link FEATURE_NAMES} order; NaN where the
 * crate refuses (too few points, flat light curve).
 */
export function bandFeatures(curve: BandCurve): Float64Array {
  const out = new Float64Array(FEATURE_NAMES.length).fill(NaN);
  const { t, m, sigma } = curve;
  const n = m.length;
  if (n === 0) return out;
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 1 / (sigma[i] * sigma[i]);
  const sorted = Float64Array.from(m).sort();
  const min = sorted[0];
  const max = sorted[n - 1];
  const mean = sum(m) / n;
  const median = sortedMedian(sorted);
  // std with ddof = 1 (light-curve-feature data_sample.rs get_std2)
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (m[i] - mean) ** 2;
  const std2 = ss / (n - 1);
  const std = Math.sqrt(std2);
  let sw = 0;
  let swm = 0;
  for (let i = 0; i < n; i++) {
    sw += w[i];
    swm += w[i] * m[i];
  }
  const weightedMean = swm / sw;
  let chi2Sum = 0;
  for (let i = 0; i < n; i++) chi2Sum += (m[i] - weightedMean) ** 2 * w[i];
  const reducedChi2 = chi2Sum / (n - 1);
  // time_series.rs: a flat light curve (all magnitudes equal, or zero chi2) refuses variability features
  const flat = min === max || chi2Sum === 0;

  // mean.rs: arithmetic mean, N >= 1
  out[INDEX.mean] = mean;
  // weighted_mean.rs: sum(m / sigma^2) / sum(1 / sigma^2), N >= 1
  out[INDEX.weighted_mean] = weightedMean;
  // median.rs: middle value, mean of the two middle values for even N, N >= 1
  out[INDEX.median] = median;
  // amplitude.rs: (max - min) / 2, N >= 1
  out[INDEX.amplitude] = 0.5 * (max - min);
  // inter_percentile_range.rs: Q(0.9) - Q(0.1) with quantiles R-5 (sorted_array.rs ppf), N >= 1
  out[INDEX.inter_percentile_range_10] = ppf(sorted, Math.fround(1 - Math.fround(0.1))) -
    ppf(sorted, Math.fround(0.1));
  // median_absolute_deviation.rs: median(|m - median(m)|), N >= 1
  const deviations = new Float64Array(n);
  for (let i = 0; i < n; i++) deviations[i] = Math.abs(m[i] - median);
  out[INDEX.median_absolute_deviation] = sortedMedian(deviations.sort());
  // median_buffer_range_percentage.rs: fraction with |m - median| < 0.1 (max - min) / 2, N >= 1
  const buffer = 0.1 * (0.5 * (max - min));
  let under = 0;
  for (let i = 0; i < n; i++) if (Math.abs(m[i] - median) < buffer) under++;
  out[INDEX.median_buffer_range_percentage_10] = under / n;
  // percent_amplitude.rs: max(max - median, median - min), N >= 1
  out[INDEX.percent_amplitude] = Math.max(max - median, median - min);
  if (n < 2) return out;

  // standard_deviation.rs: sqrt(sum (m - mean)^2 / (N - 1)), N >= 2
  out[INDEX.standard_deviation] = std;
  // mean_variance.rs: std / mean, N >= 2
  out[INDEX.mean_variance] = std / mean;
  // beyond_n_std.rs: fraction with |m - mean| > 1 std, N >= 2
  let beyond = 0;
  for (let i = 0; i < n; i++) if (Math.abs(m[i] - mean) > std) beyond++;
  out[INDEX.beyond_1_std] = beyond / n;
  // reduced_chi2.rs: sum ((m - weighted mean) / sigma)^2 / (N - 1), N >= 2
  out[INDEX.chi2] = reducedChi2;
  // maximum_slope.rs: max |dm / dt| over consecutive finite ratios, N >= 2
  let slope = -Infinity;
  for (let i = 1; i < n; i++) {
    const s = Math.abs((m[i] - m[i - 1]) / (t[i] - t[i - 1]));
    if (Number.isFinite(s) && s > slope) slope = s;
  }
  out[INDEX.maximum_slope] = slope === -Infinity ? NaN : slope;
  if (!flat) {
    // cusum.rs: (max S - min S) / (N std), S_j the running sum of (m - mean), N >= 2, not flat
    let running = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      running += m[i] - mean;
      if (running < lo) lo = running;
      if (running > hi) hi = running;
    }
    out[INDEX.cusum] = (hi - lo) / (std * n);
    // magnitude_percentage_ratio.rs: (Q(1-n) - Q(n)) / (Q(1-d) - Q(d)), N >= 2, not flat
    out[INDEX.magnitude_percentage_ratio_40_5] = percentageRatio(sorted, 0.4, 0.05);
    out[INDEX.magnitude_percentage_ratio_20_10] = percentageRatio(sorted, 0.2, 0.1);
    // stetson_k.rs: sum |m - weighted mean| / sigma / sqrt(N chi2), N >= 2, not flat
    let absSum = 0;
    for (let i = 0; i < n; i++) absSum += Math.abs(m[i] - weightedMean) * Math.sqrt(w[i]);
    out[INDEX.stetson_K] = absSum / Math.sqrt(n * (reducedChi2 * (n - 1)));
  }
  if (n < 3) return out;

  // linear_trend.rs: unweighted least squares slope, its error and the noise level, N >= 3
  const trend = straightLine(t, m, null);
  out[INDEX.linear_trend] = trend.slope;
  out[INDEX.linear_trend_sigma] = Math.sqrt(trend.slopeSigma2);
  out[INDEX.linear_trend_noise] = Math.sqrt(trend.reducedChi2);
  // linear_fit.rs: least squares weighted by 1 / sigma^2: slope, its error, reduced chi2, N >= 3
  const fit = straightLine(t, m, w);
  out[INDEX.linear_fit_slope] = fit.slope;
  out[INDEX.linear_fit_slope_sigma] = Math.sqrt(fit.slopeSigma2);
  out[INDEX.linear_fit_reduced_chi2] = fit.reducedChi2;
  if (!flat) {
    // skew.rs: N / ((N - 1)(N - 2)) sum (m - mean)^3 / std^3, N >= 3, not flat
    let third = 0;
    for (let i = 0; i < n; i++) third += (m[i] - mean) ** 3;
    out[INDEX.skew] = third / std ** 3 * n / ((n - 1) * (n - 2));
  }
  if (n < 4 || flat || std2 === 0) return out;

  // kurtosis.rs: unbiased excess kurtosis G2, N >= 4, not flat
  let fourth = 0;
  for (let i = 0; i < n; i++) fourth += (m[i] - mean) ** 4;
  out[INDEX.kurtosis] = fourth / std2 ** 2 * n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) -
    3 * (n - 1) ** 2 / ((n - 2) * (n - 3));
  // anderson_darling_normal.rs: A^2 (1 + 4/N - 25/N^2) over the sorted magnitudes, N >= 4, not flat
  let ad = 0;
  for (let i = 0; i < n; i++) {
    const x = (sorted[i] - mean) / std * Math.SQRT1_2;
    ad += (2 * i + 1) * lnErfc(-x) + (2 * (n - i) - 1) * lnErfc(x);
  }
  out[INDEX.anderson_darling_normal] = (1 + 4 / n - (5 / n) ** 2) *
    (n * (2 * Math.LN2 - 1) - ad / n);
  return out;
}

function sum(values: Float64Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}

function sortedMedian(sorted: Float64Array): number {
  const n = sorted.length;
  const i = (n - 1) >> 1;
  return n % 2 === 0 ? 0.5 * (sorted[i] + sorted[i + 1]) : sorted[i];
}

/** Quantile R-5 as sorted_array.rs computes it: the position in float32, the interpolation in float64. */
function ppf(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  const h = Math.fround(Math.fround(n * q) - 0.5);
  const floor = Math.floor(h);
  if (floor < 0) return sorted[0];
  if (floor >= n - 1) return sorted[n - 1];
  return sorted[floor] + Math.fround(h - floor) * (sorted[floor + 1] - sorted[floor]);
}

function percentageRatio(sorted: Float64Array, numerator: number, denominator: number): number {
  const qn = Math.fround(numerator);
  const qd = Math.fround(denominator);
  return (ppf(sorted, Math.fround(1 - qn)) - ppf(sorted, qn)) /
    (ppf(sorted, Math.fround(1 - qd)) - ppf(sorted, qd));
}

interface LineFit {
  slope: number;
  slopeSigma2: number;
  reducedChi2: number;
}

/**
 * Straight-line least squares (light-curve-feature straight_line_fit.rs, after Press et al.
 * sec. 15.2): weighted by `w` when given, else with unit weights and the slope error scaled by
 * the reduced chi2.
 */
function straightLine(t: Float64Array, m: Float64Array, w: Float64Array | null): LineFit {
  const n = t.length;
  let s = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i] : 1;
    s += wi;
    sx += wi * t[i];
    sy += wi * m[i];
  }
  if (!w) s = n;
  let stt = 0;
  let sty = 0;
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i] : 1;
    const ti = t[i] - sx / s;
    stt += wi * ti * ti;
    sty += wi * ti * m[i];
  }
  const slope = sty / stt;
  const intercept = (sy - sx * slope) / s;
  let chi2 = 0;
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i] : 1;
    chi2 += (m[i] - intercept - slope * t[i]) ** 2 * wi;
  }
  const reducedChi2 = chi2 / (n - 2);
  const slopeSigma2 = w ? 1 / stt : reducedChi2 / stt;
  return { slope, slopeSigma2, reducedChi2 };
}

const TEN_ROOT6_DBL_EPSILON = 2.4607833005759251e-02;
const SQRT_PI = 1.77245385090551602729816748334;
const SMALL_SERIES = [
  0.00048204,
  -0.00142906,
  0.0013200243174,
  0.0009461589032,
  -0.0045563339802,
  0.00556964649138,
  0.00125993961762116,
  -0.01621575378835404,
  0.02629651521057465,
  -0.001829764677455021,
  2 * (1 - Math.PI / 3),
  (4 - Math.PI) / 3,
  1,
  1,
  0,
];
const ERFC8_P = [
  0.5641895835477550741253201704,
  1.275366644729965952479585264,
  5.019049726784267463450058,
  6.1602098531096305440906,
  7.409740605964741794425,
  2.97886562639399288862,
];
const ERFC8_Q = [
  1,
  2.260528520767326969591866945,
  9.396034016235054150430579648,
  12.0489519278551290360340491,
  17.08144074746600431571095,
  9.608965327192787870698,
  3.3690752069827527677,
];

function horner(coefficients: number[], x: number): number {
  let acc = 0;
  for (const c of coefficients) acc = acc * x + c;
  return acc;
}

/** ln(erfc(x)) with the branches of light-curve-feature lnerfc.rs (after GSL's log_erfc). */
export function lnErfc(x: number): number {
  if (x * x < TEN_ROOT6_DBL_EPSILON) return -2 * horner(SMALL_SERIES, x / SQRT_PI);
  if (x > 8) return Math.log(horner(ERFC8_P, x) / horner(ERFC8_Q, x)) - x * x;
  return Math.log(erfc(x));
}

/**
 * erfc to about 1e-15 relative: the all-positive series of erf for |x| < 2 (no cancellation),
 * a continued fraction beyond (Abramowitz & Stegun 7.1.6 and 7.1.14).
 */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) {
    // erf(x) = 2/sqrt(pi) exp(-x^2) sum 2^k x^(2k+1) / (1 3 5 ... (2k+1))
    let term = x;
    let total = x;
    for (let k = 1; k < 200 && term > total * 1e-17; k++) {
      term *= 2 * x * x / (2 * k + 1);
      total += term;
    }
    return 1 - 2 / SQRT_PI * Math.exp(-x * x) * total;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated backwards
  let fraction = x;
  for (let k = 120; k >= 1; k--) fraction = x + (k / 2) / fraction;
  return Math.exp(-x * x) / SQRT_PI / fraction;
}
