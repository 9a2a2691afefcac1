/**
 * Avro → Arrow: the schema mapping (see `schema.ts` for the documented
 * choices), the generated column decoder and the table builder with ingest
 * metadata columns.
 */
export { ColumnBuilder } from "./builders.ts";
export { compileRowDecoder, type RowDecoder, toJson } from "./column_decoder.ts";
export { arrowField, type ColumnKind, type ColumnPlan, planColumns } from "./schema.ts";
export {
  INGEST_COLUMNS,
  type IngestMeta,
  type Mark,
  numberAt,
  TableBuilder,
  type TableLayout,
  tableLayout,
} from "./table_builder.ts";
