/**
 * Real ZTF alerts as the archive lays them out: Avro containers decoded by the project's own
 * decoder into Arrow columns (candidate struct, prv_candidates list of structs, and every other
 * field, Fink's annotations included when the file has them).
 */
import type * as arrow from "apache-arrow";
import { ContainerDecoder } from "../../core/avro/mod.ts";
import { TableBuilder } from "../../core/arrow/mod.ts";
import { sharedData } from "../shared_data.ts";

/** 31 ZTF alerts of 2026-03-22 annotated by Fink 8.41.0 (lc_features_g/r, anomaly_score_beta). */
export const ANNOTATED = sharedData(
  "ztf/fink-annotated/fink-client-ztf-20260322/part-3-305711.avro",
);

/** Fink's beta model zip, as shared. */
export const BETA_ZIP = sharedData(
  "science/anomaly_detection/models/anomaly_detection_forest_AAD_beta.zip",
);

/**
 * The alerts of Avro container files as Arrow tables, one per writer schema (as the archive
 * builds a batch), in the order each schema first appears, with their ids.
 */
export async function alertTables(
  paths: string[],
): Promise<{ table: arrow.Table; ids: BigInt64Array }[]> {
  const decoder = new ContainerDecoder();
  const builders = new Map<string, TableBuilder>();
  for (const path of paths) {
    const framed = await decoder.frame(await Deno.readFile(path));
    let builder = builders.get(framed.schema.key);
    if (builder === undefined) {
      builder = new TableBuilder(framed.schema);
      builders.set(framed.schema.key, builder);
    }
    for (const block of framed.blocks) {
      let pos = block.start;
      for (let i = 0; i < block.count; i++) {
        pos = builder.readRow(block.bytes, pos, block.end);
        builder.appendIngest({
          topic: "ztf",
          partition: 0,
          offset: BigInt(builder.rows),
          timestamp: 0,
          ingestTime: 0,
        });
      }
    }
  }
  return [...builders.values()].map((builder) => ({
    table: builder.finish(),
    ids: builder.ids() ?? new BigInt64Array(),
  }));
}
