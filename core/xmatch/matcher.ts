/**
 * A catalog bound to its spherical index: answers "nearest source of this
 * catalog within its radius" for one position at a time without allocating.
 */
import type { Catalog } from "./catalog.ts";
import { type ConeOptions, SkyIndex, type SkyIndexOptions } from "./sky_index.ts";

/** A catalog with its index, ready for repeated queries. */
export class CatalogMatcher {
  /** The catalog matched against. */
  readonly catalog: Catalog;
  /** Its spherical index. */
  readonly index: SkyIndex;
  /** Match radius in arcseconds (from the spec unless overridden). */
  readonly radiusArcsec: number;
  readonly #cone: ConeOptions;
  /** Time taken to build the index, in milliseconds. */
  readonly buildMs: number;

  /** Builds the index for `catalog`; `options.radiusArcsec` overrides the spec's radius. */
  constructor(catalog: Catalog, options: SkyIndexOptions & { radiusArcsec?: number } = {}) {
    const start = performance.now();
    this.catalog = catalog;
    this.index = SkyIndex.build(catalog.ra, catalog.dec, options);
    this.buildMs = performance.now() - start;
    this.radiusArcsec = options.radiusArcsec ?? catalog.spec.radiusArcsec;
    this.#cone = { radiusArcsec: this.radiusArcsec };
  }

  /** Name of the catalog. */
  get name(): string {
    return this.catalog.spec.name;
  }

  /**
   * Row of the nearest source within the radius, or -1; the separation is then
   * in {@link separationArcsec}.
   */
  match(ra: number, dec: number): number {
    return this.index.nearest(ra, dec, this.#cone);
  }

  /** Separation in arcseconds of the last {@link match} (NaN when it found nothing). */
  get separationArcsec(): number {
    return this.index.lastSeparationArcsec;
  }

  /** Value reported for a source row. */
  value(row: number): string {
    return this.catalog.values[row];
  }

  /** Name of a source row, or null when the catalog has no name column. */
  id(row: number): string | null {
    return this.catalog.ids ? this.catalog.ids[row] : null;
  }
}
