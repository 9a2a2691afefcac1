/**
 * Synthetic ZTF-like alerts for the stream simulator: the generator, its Avro schema
 * (`fink.sim.alert`, schemavsn "sim-1") and bigint-safe Avro types.
 */
export { type AvroType, avroType, repairSchemaDefaults } from "./avro_type.ts";
export { readCatalogPositions } from "./catalog_positions.ts";
export { CUTOUT_SIZE } from "./cutouts.ts";
export {
  AlertGenerator,
  type AlertGeneratorOptions,
  SIM_SCHEMA_VERSION,
  type SimAlert,
  type SimCandidate,
  type SimCutout,
  type SimPrvCandidate,
} from "./generator.ts";
export { SIM_ALERT_SCHEMA_PATH, SIM_ALERT_SCHEMA_TEXT, simAlertType } from "./schema.ts";
export type { SkyPosition } from "./sky.ts";
