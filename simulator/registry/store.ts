/**
 * Schemas and subjects of the simulator's schema registry: ids are global (the same
 * schema under any subject has one id), versions count per subject, and the whole
 * state can be persisted to a JSON file so ids survive restarts.
 */
import { dirname } from "node:path";
import { avroType } from "../alerts/avro_type.ts";

/** One version of a subject. */
export interface SubjectVersion {
  /** Subject name, e.g. `ztf-alerts-value`. */
  subject: string;
  /** 1-based version within the subject. */
  version: number;
  /** Global schema id. */
  id: number;
  /** Schema JSON text as stored. */
  schema: string;
}

interface PersistedState {
  schemas: { id: number; schema: string }[];
  subjects: Record<string, number[]>;
}

/** Thrown for requests the registry refuses; carries Confluent's error code. */
export class RegistryError extends Error {
  /** Confluent error code (HTTP status is its first three digits). */
  readonly code: number;

  /** An error with a Confluent error code and message. */
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** Compact JSON so whitespace or key spacing differences do not create new ids. */
function normalize(schemaText: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(schemaText);
  } catch (error) {
    throw new RegistryError(
      42201,
      `Invalid schema: expected Avro schema JSON text, found unparsable JSON (${
        (error as Error).message
      })`,
    );
  }
  try {
    avroType(parsed);
  } catch (error) {
    throw new RegistryError(42201, `Invalid schema: ${(error as Error).message}`);
  }
  return JSON.stringify(parsed);
}

/** In-memory schema store, optionally mirrored to a JSON file. */
export class SchemaStore {
  readonly #byId = new Map<number, string>();
  readonly #idBySchema = new Map<string, number>();
  readonly #subjects = new Map<string, number[]>();
  readonly #file: string | null;
  #saving: Promise<void> = Promise.resolve();

  private constructor(file: string | null) {
    this.#file = file;
  }

  /**
   * A store; with `file`, state is loaded from it when it exists and rewritten after
   * each new registration.
   */
  static async open(file: string | null): Promise<SchemaStore> {
    const store = new SchemaStore(file);
    if (file === null) return store;
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return store;
      throw error;
    }
    let state: PersistedState;
    try {
      state = JSON.parse(text);
    } catch (error) {
      throw new Error(
        `Schema registry file ${file} is not valid JSON (${
          (error as Error).message
        }); fix or delete it`,
      );
    }
    for (const { id, schema } of state.schemas ?? []) {
      store.#byId.set(id, schema);
      store.#idBySchema.set(schema, id);
    }
    for (const [subject, ids] of Object.entries(state.subjects ?? {})) {
      store.#subjects.set(subject, [...ids]);
    }
    return store;
  }

  /** Registers `schemaText` under `subject`; returns its id (unchanged if already known). */
  async register(subject: string, schemaText: string): Promise<number> {
    const schema = normalize(schemaText);
    let id = this.#idBySchema.get(schema);
    let changed = false;
    if (id === undefined) {
      id = this.#byId.size === 0 ? 1 : Math.max(...this.#byId.keys()) + 1;
      this.#byId.set(id, schema);
      this.#idBySchema.set(schema, id);
      changed = true;
    }
    const versions = this.#subjects.get(subject) ?? [];
    if (!versions.includes(id)) {
      versions.push(id);
      this.#subjects.set(subject, versions);
      changed = true;
    }
    if (changed) await this.#persist();
    return id;
  }

  /** The schema text with this id, or null. */
  schema(id: number): string | null {
    return this.#byId.get(id) ?? null;
  }

  /** Registered subject names, sorted. */
  subjects(): string[] {
    return [...this.#subjects.keys()].sort();
  }

  /** Version numbers of a subject (1..n). Throws 40401 when the subject is unknown. */
  versions(subject: string): number[] {
    return this.#versionIds(subject).map((_, i) => i + 1);
  }

  /**
   * One version of a subject: a number or `"latest"`. Throws 40401 for an unknown
   * subject, 40402 for an unknown version.
   */
  version(subject: string, version: number | "latest"): SubjectVersion {
    const ids = this.#versionIds(subject);
    const index = version === "latest" ? ids.length - 1 : version - 1;
    if (index < 0 || index >= ids.length) {
      throw new RegistryError(
        40402,
        `Version ${version} not found: subject ${subject} has versions 1 to ${ids.length}`,
      );
    }
    const id = ids[index];
    return { subject, version: index + 1, id, schema: this.#byId.get(id)! };
  }

  /** The version of `subject` holding this schema. Throws 40401 or 40403 when there is none. */
  lookup(subject: string, schemaText: string): SubjectVersion {
    const id = this.#idBySchema.get(normalize(schemaText));
    const index = id === undefined ? -1 : this.#versionIds(subject).indexOf(id);
    if (index < 0) throw new RegistryError(40403, `Schema not found under subject ${subject}`);
    return this.version(subject, index + 1);
  }

  #versionIds(subject: string): number[] {
    const ids = this.#subjects.get(subject);
    if (!ids) throw new RegistryError(40401, `Subject '${subject}' not found`);
    return ids;
  }

  /** Writes are chained so a slower earlier snapshot never overwrites a later one. */
  #persist(): Promise<void> {
    const saving = this.#saving.then(() => this.#write());
    this.#saving = saving.catch(() => {});
    return saving;
  }

  async #write(): Promise<void> {
    if (this.#file === null) return;
    const state: PersistedState = {
      schemas: [...this.#byId].map(([id, schema]) => ({ id, schema })),
      subjects: Object.fromEntries(this.#subjects),
    };
    await Deno.mkdir(dirname(this.#file), { recursive: true });
    const temporary = `${this.#file}.${crypto.randomUUID()}.tmp`;
    await Deno.writeTextFile(temporary, JSON.stringify(state, null, 1));
    await Deno.rename(temporary, this.#file);
  }
}
