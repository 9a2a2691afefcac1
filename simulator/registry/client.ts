/** HTTP client side of the schema registry protocol, used by the replayer. */

/** Content type Confluent clients send. */
const CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";

async function call(url: string, init: RequestInit, what: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new Error(
      `Schema registry at ${
        new URL(url).origin
      } is unreachable (option registryUrl) while ${what}: ${(error as Error).message}`,
    );
  }
  const text = await response.text();
  let body: { message?: string } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    throw new Error(
      `Schema registry at ${new URL(url).origin} refused ${what}: HTTP ${response.status} ${
        body?.message ?? text.slice(0, 200)
      }`,
    );
  }
  return body;
}

/** Registers an Avro schema (JSON text) under `subject` and returns its id. */
export async function registerSchema(
  registryUrl: string,
  subject: string,
  schemaText: string,
): Promise<number> {
  const url = `${registryUrl.replace(/\/+$/, "")}/subjects/${encodeURIComponent(subject)}/versions`;
  const body = await call(url, {
    method: "POST",
    headers: { "content-type": CONTENT_TYPE },
    body: JSON.stringify({ schema: schemaText }),
  }, `registering a schema under ${subject}`) as { id?: unknown };
  if (typeof body?.id !== "number") {
    throw new Error(
      `Schema registry at ${registryUrl} answered a registration without a numeric id; is it a Confluent-compatible registry?`,
    );
  }
  return body.id;
}

/** The schema JSON text registered with this id. */
export async function fetchSchema(registryUrl: string, id: number): Promise<string> {
  const url = `${registryUrl.replace(/\/+$/, "")}/schemas/ids/${id}`;
  const body = await call(url, { headers: { accept: CONTENT_TYPE } }, `fetching schema ${id}`) as {
    schema?: unknown;
  };
  if (typeof body?.schema !== "string") {
    throw new Error(
      `Schema registry at ${registryUrl} answered schema ${id} without a schema string`,
    );
  }
  return body.schema;
}
