/**
 * The schema registry over real HTTP on 127.0.0.1: registering real ZTF and Rubin
 * writer schemas, fetching by id and subject, Confluent error bodies, and persistence.
 */
import assert from "node:assert/strict";
import {
  fetchSchema,
  registerSchema,
  REGISTRY_CONTENT_TYPE,
  startRegistry,
} from "../../../simulator/registry/mod.ts";
import { readContainer } from "../../../simulator/replayer/container.ts";
import { sharedData } from "../../shared_data.ts";

function writerSchema(...path: string[]): string {
  const file = sharedData(...path);
  return readContainer(Deno.readFileSync(file), file).schemaText;
}

const ZTF = writerSchema(
  "ztf",
  "alerts",
  "fink-broker-local-20200101",
  "1095578115815010001.avro",
);
const RUBIN = Deno.readTextFileSync(sharedData("kafka", "rubin_v9.0_fakeAlert.writer-schema.avsc"));

async function call(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    body: await response.json(),
  };
}

function post(url: string, body: unknown) {
  return call(url, {
    method: "POST",
    headers: { "content-type": REGISTRY_CONTENT_TYPE },
    body: JSON.stringify(body),
  });
}

Deno.test("register, fetch by id, list subjects and versions over HTTP", async () => {
  const registry = await startRegistry({ port: 0 });
  try {
    const ztfId = await registerSchema(registry.url, "ztf-value", ZTF);
    const again = await registerSchema(
      registry.url,
      "ztf-value",
      JSON.stringify(JSON.parse(ZTF), null, 2),
    );
    assert.equal(again, ztfId, "the same schema with other whitespace got a new id");
    const rubinId = await registerSchema(registry.url, "rubin-value", RUBIN);
    assert.notEqual(rubinId, ztfId);
    assert.equal(await registerSchema(registry.url, "other-value", RUBIN), rubinId);

    const byId = await call(`${registry.url}/schemas/ids/${ztfId}`);
    assert.equal(byId.status, 200);
    assert.equal(byId.type, REGISTRY_CONTENT_TYPE);
    assert.deepEqual(JSON.parse(byId.body.schema), JSON.parse(ZTF));
    assert.deepEqual(JSON.parse(await fetchSchema(registry.url, rubinId)), JSON.parse(RUBIN));

    assert.deepEqual((await call(`${registry.url}/subjects`)).body, [
      "other-value",
      "rubin-value",
      "ztf-value",
    ]);
    await registerSchema(registry.url, "ztf-value", RUBIN);
    assert.deepEqual((await call(`${registry.url}/subjects/ztf-value/versions`)).body, [1, 2]);
    const latest = await call(`${registry.url}/subjects/ztf-value/versions/latest`);
    assert.equal(latest.status, 200);
    assert.equal(latest.body.subject, "ztf-value");
    assert.equal(latest.body.version, 2);
    assert.equal(latest.body.id, rubinId);
    assert.equal(typeof latest.body.schema, "string");
    const first = await call(`${registry.url}/subjects/ztf-value/versions/1`);
    assert.equal(first.body.id, ztfId);
    const lookup = await post(`${registry.url}/subjects/ztf-value`, { schema: ZTF });
    assert.equal(lookup.body.id, ztfId);
    assert.equal(lookup.body.version, 1);
  } finally {
    await registry.close();
  }
});

Deno.test("errors are Confluent JSON bodies with error_code and message", async () => {
  const registry = await startRegistry({ port: 0 });
  try {
    const missing = await call(`${registry.url}/schemas/ids/99`);
    assert.equal(missing.status, 404);
    assert.equal(missing.type, REGISTRY_CONTENT_TYPE);
    assert.equal(missing.body.error_code, 40403);
    assert.match(missing.body.message, /Schema 99 not found/);

    const noSubject = await call(`${registry.url}/subjects/nope/versions/latest`);
    assert.equal(noSubject.status, 404);
    assert.equal(noSubject.body.error_code, 40401);

    await registerSchema(registry.url, "s", ZTF);
    const noVersion = await call(`${registry.url}/subjects/s/versions/7`);
    assert.equal(noVersion.body.error_code, 40402);
    const badVersion = await call(`${registry.url}/subjects/s/versions/x`);
    assert.equal(badVersion.status, 422);
    assert.equal(badVersion.body.error_code, 42202);

    const invalid = await post(`${registry.url}/subjects/s/versions`, {
      schema: '{"type": "record", "name": "x", "fields": [{"name": "a", "type": "nope"}]}',
    });
    assert.equal(invalid.status, 422);
    assert.equal(invalid.body.error_code, 42201);
    const notJson = await post(`${registry.url}/subjects/s/versions`, { schema: "{not json" });
    assert.equal(notJson.body.error_code, 42201);
    const noSchema = await post(`${registry.url}/subjects/s/versions`, { other: 1 });
    assert.equal(noSchema.body.error_code, 42201);
    const garbage = await call(`${registry.url}/subjects/s/versions`, {
      method: "POST",
      body: "][",
    });
    assert.equal(garbage.body.error_code, 42201);
    const unknownLookup = await post(`${registry.url}/subjects/s`, { schema: RUBIN });
    assert.equal(unknownLookup.body.error_code, 40403);

    const route = await call(`${registry.url}/nothing/here`);
    assert.equal(route.status, 404);
    assert.equal(route.body.error_code, 404);
    const method = await call(`${registry.url}/schemas/ids/1`, { method: "DELETE" });
    assert.equal(method.status, 405);

    await assert.rejects(
      registerSchema(registry.url, "s", "{}"),
      /refused registering a schema under s: HTTP 422/,
    );
  } finally {
    await registry.close();
  }
});

Deno.test("ids survive a restart when a data folder is given", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const first = await startRegistry({ port: 0, dataDir });
    const ztfId = await registerSchema(first.url, "ztf-value", ZTF);
    const rubinId = await registerSchema(first.url, "rubin-value", RUBIN);
    await first.close();

    const second = await startRegistry({ port: 0, dataDir });
    try {
      assert.deepEqual(JSON.parse(await fetchSchema(second.url, ztfId)), JSON.parse(ZTF));
      assert.equal(await registerSchema(second.url, "rubin-value", RUBIN), rubinId);
      const fresh = await registerSchema(
        second.url,
        "x-value",
        writerSchema(
          "ztf",
          "alerts",
          "fink-broker-all-distribute-20231018",
          "part-00000-0b960f60-420c-4175-b2cc-ff6b135bfece-c000.avro",
        ),
      );
      assert.ok(fresh > Math.max(ztfId, rubinId));
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("an unreachable registry is a one-line error naming registryUrl", async () => {
  const registry = await startRegistry({ port: 0 });
  const url = registry.url;
  await registry.close();
  await assert.rejects(registerSchema(url, "s", ZTF), /unreachable \(option registryUrl\)/);
});
