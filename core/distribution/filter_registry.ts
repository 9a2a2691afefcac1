/**
 * The filters in force: the built-in ones (unless turned off), those of the
 * configuration (`[distribution.filters.<name>]`) and those posted through
 * the API, kept in `<process.state_dir>/filters.json` so they survive a
 * restart. Later sources replace earlier ones of the same name. A filter is
 * checked against the columns of the most recent archived file when defined;
 * one that fails later (a schema change) is reported by name and skipped.
 */
import { basename, dirname } from "node:path";
import { replaceFile } from "../storage/atomic_replace.ts";
import { LocalStorage } from "../storage/local.ts";
import type { ConfigTable } from "../config/mod.ts";
import { DEFAULT_FILTERS } from "./default_filters.ts";
import { type FilterDefinition, parseDefinition } from "./sql_filter.ts";

/** Where the filters come from. */
export interface FilterSources {
  defaults: boolean;
  /** `[distribution.filters.<name>]` sections. */
  configured: Readonly<Record<string, ConfigTable>>;
  /** JSON file of the posted filters. */
  file: string;
}

/** Named filters, with the posted ones persisted. */
export class FilterRegistry {
  #filters = new Map<string, FilterDefinition & { origin: string }>();

  private constructor(private readonly file: string) {}

  /** Loads every source; a bad configured filter throws naming it. */
  static async open(sources: FilterSources): Promise<FilterRegistry> {
    const registry = new FilterRegistry(sources.file);
    if (sources.defaults) {
      for (const f of DEFAULT_FILTERS) registry.#filters.set(f.name, { ...f, origin: "default" });
    }
    for (const [name, body] of Object.entries(sources.configured)) {
      registry.#filters.set(name, { ...parseDefinition(name, body), origin: "config" });
    }
    let posted: Record<string, unknown> = {};
    try {
      posted = JSON.parse(await Deno.readTextFile(sources.file));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new Error(
          `Cannot read the posted filters in ${sources.file}: ${(error as Error).message}`,
        );
      }
    }
    for (const [name, body] of Object.entries(posted)) {
      registry.#filters.set(name, { ...parseDefinition(name, body), origin: "api" });
    }
    return registry;
  }

  /** Every filter, sorted by name. */
  list(): (FilterDefinition & { origin: string })[] {
    return [...this.#filters.values()].sort((a, b) => a.name < b.name ? -1 : 1);
  }

  /** Adds or replaces a posted filter and saves the posted ones. */
  async put(filter: FilterDefinition): Promise<void> {
    this.#filters.set(filter.name, { ...filter, origin: "api" });
    await this.#save();
  }

  /** Removes a filter (built-in and configured ones until restart); false when unknown. */
  async remove(name: string): Promise<boolean> {
    const found = this.#filters.delete(name);
    if (found) await this.#save();
    return found;
  }

  async #save(): Promise<void> {
    const posted = Object.fromEntries(
      this.list().filter((f) => f.origin === "api").map((f) => [
        f.name,
        { where: f.where, description: f.description },
      ]),
    );
    const bytes = new TextEncoder().encode(JSON.stringify(posted, null, 2));
    await replaceFile(new LocalStorage(dirname(this.file)), basename(this.file), bytes);
  }
}
