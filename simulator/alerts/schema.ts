/** The Avro schema of synthetic alerts (`fink.sim.alert`, file `sim_alert.avsc`). */
import { type AvroType, avroType } from "./avro_type.ts";

/** Path of the `.avsc` file of synthetic alerts. */
export const SIM_ALERT_SCHEMA_PATH: URL = new URL("./sim_alert.avsc", import.meta.url);

/** The schema as compact JSON text (what containers embed and registries store). */
export const SIM_ALERT_SCHEMA_TEXT: string = JSON.stringify(
  JSON.parse(Deno.readTextFileSync(SIM_ALERT_SCHEMA_PATH)),
);

let cached: AvroType | null = null;

/** The avsc type of synthetic alerts (bigint longs), built once. */
export function simAlertType(): AvroType {
  cached ??= avroType(SIM_ALERT_SCHEMA_TEXT);
  return cached;
}
