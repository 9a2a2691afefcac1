/**
 * Worker side of the encoder pool: receives a packed batch (transferred
 * buffers), runs {@link encodeBatch} and transfers the Parquet bytes back.
 */
/// <reference lib="deno.worker" />
import { encodeBatch } from "./encoder.ts";
import {
  type EncodeRequest,
  type EncodeResponse,
  resultTransfers,
  unpackBatch,
} from "./encoder_pool.ts";

async function handle(request: EncodeRequest): Promise<void> {
  try {
    const result = await encodeBatch(unpackBatch(request.batch), request.options);
    // Quarantined values are views on the request buffer; give each its own.
    for (const q of result.quarantined) q.value = q.value.slice();
    const response: EncodeResponse = { id: request.id, ok: true, result };
    self.postMessage(response, resultTransfers(result));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const response: EncodeResponse = { id: request.id, ok: false, error: message };
    self.postMessage(response);
  }
}

self.onmessage = (event: MessageEvent<EncodeRequest>) => handle(event.data);
