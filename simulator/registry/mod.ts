/**
 * A small Confluent-compatible schema registry on 127.0.0.1: enough of the REST API
 * for producers to register alert schemas and consumers to fetch them by id.
 */
import { join } from "node:path";
import { RegistryError, SchemaStore } from "./store.ts";

export { fetchSchema, registerSchema } from "./client.ts";
export { RegistryError, SchemaStore, type SubjectVersion } from "./store.ts";

/** Content type of every registry response. */
export const REGISTRY_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";

/** Name of the persistence file inside `dataDir`. */
export const REGISTRY_FILE = "schema_registry.json";

/** Options of {@link startRegistry}. */
export interface RegistryOptions {
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Folder where schemas persist across restarts; null (default) keeps them in memory. */
  dataDir?: string | null;
}

/** A running registry. */
export interface Registry {
  /** Base URL, e.g. `http://127.0.0.1:8081`. */
  url: string;
  /** Bound port. */
  port: number;
  /** The schemas, for in-process use without HTTP. */
  store: SchemaStore;
  /** Stops listening and waits for in-flight requests. */
  close(): Promise<void>;
}

function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": REGISTRY_CONTENT_TYPE },
  });
}

function failure(code: number, message: string): Response {
  return reply(Number(String(code).slice(0, 3)), {
    error_code: code,
    message,
  });
}

async function schemaFromBody(request: Request): Promise<string> {
  let body: { schema?: unknown; schemaType?: unknown };
  try {
    body = await request.json();
  } catch {
    throw new RegistryError(
      42201,
      'Invalid schema: expected a JSON body {"schema": "<Avro schema as a JSON string>"}',
    );
  }
  if (typeof body?.schema !== "string") {
    throw new RegistryError(
      42201,
      `Invalid schema: expected "schema" to be a JSON string; found ${typeof body?.schema}`,
    );
  }
  if (body.schemaType !== undefined && body.schemaType !== "AVRO") {
    throw new RegistryError(
      42201,
      `Invalid schema: only schemaType AVRO is supported; found ${String(body.schemaType)}`,
    );
  }
  return body.schema;
}

function parseVersion(text: string): number | "latest" {
  if (text === "latest" || text === "-1") return "latest";
  const version = Number(text);
  if (!Number.isInteger(version) || version < 1) {
    throw new RegistryError(
      42202,
      `Invalid version: expected a positive integer or "latest"; found ${text}`,
    );
  }
  return version;
}

async function route(store: SchemaStore, request: Request): Promise<Response> {
  const path = new URL(request.url).pathname.replace(/\/+$/, "");
  const parts = path.split("/").slice(1).map(decodeURIComponent);
  const method = request.method;
  const allow = (expected: string) => {
    if (method !== expected) {
      throw new RegistryError(405, `HTTP ${method} not allowed on ${path}; use ${expected}`);
    }
  };
  if (parts.length === 1 && parts[0] === "") {
    allow("GET");
    return reply(200, {});
  }
  if (parts[0] === "schemas" && parts[1] === "ids" && parts.length === 3) {
    allow("GET");
    const id = Number(parts[2]);
    const schema = Number.isInteger(id) ? store.schema(id) : null;
    if (schema === null) throw new RegistryError(40403, `Schema ${parts[2]} not found`);
    return reply(200, { schema });
  }
  if (parts[0] === "subjects" && parts.length === 1) {
    allow("GET");
    return reply(200, store.subjects());
  }
  if (parts[0] === "subjects" && parts.length === 2) {
    allow("POST");
    return reply(200, store.lookup(parts[1], await schemaFromBody(request)));
  }
  if (parts[0] === "subjects" && parts[2] === "versions" && parts.length === 3) {
    if (method === "POST") {
      return reply(200, { id: await store.register(parts[1], await schemaFromBody(request)) });
    }
    allow("GET");
    return reply(200, store.versions(parts[1]));
  }
  if (parts[0] === "subjects" && parts[2] === "versions" && parts.length === 4) {
    allow("GET");
    return reply(200, store.version(parts[1], parseVersion(parts[3])));
  }
  throw new RegistryError(404, `HTTP 404 Not Found: no route ${method} ${path}`);
}

/** Starts the registry; resolves once it listens. */
export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const store = await SchemaStore.open(
    options.dataDir ? join(options.dataDir, REGISTRY_FILE) : null,
  );
  const port = options.port ?? 0;
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname: "127.0.0.1", port, onListen: resolve }, async (request) => {
      try {
        return await route(store, request);
      } catch (error) {
        if (error instanceof RegistryError) return failure(error.code, error.message);
        return failure(50001, `Error in the backend data store: ${(error as Error).message}`);
      }
    });
  } catch (error) {
    throw new Error(
      `Schema registry cannot listen on 127.0.0.1:${port} (option registry.port): ${
        (error as Error).message
      }; choose another port or 0 for a free one`,
    );
  }
  const address = await listening;
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    store,
    close: () => server.shutdown(),
  };
}
