/**
 * Worker side of the alert encoder pool: runs {@link encodeAlerts} and
 * transfers the encoded messages back, with the CPU time the job took on this
 * Worker's thread (for the benchmark's per-stage figures).
 */
/// <reference lib="deno.worker" />
import { encodeAlerts, type EncodeScratch } from "./alert_encoder.ts";
import { threadCpuMs } from "./thread_cpu.ts";
import type { EncodeRequest, EncodeResponse } from "./encoder_pool.ts";

/** The read buffer stays with this Worker; message buffers come back from the pool. */
const scratch: EncodeScratch = {};

async function handle(request: EncodeRequest): Promise<void> {
  try {
    const started = threadCpuMs();
    scratch.out = request.out;
    const result = await encodeAlerts(request.job, scratch);
    scratch.out = undefined;
    const response: EncodeResponse = {
      id: request.id,
      ok: true,
      result,
      cpuMs: threadCpuMs() - started,
    };
    const buffers = [result.data, result.ends, result.partitionKeys].map((a) =>
      a.buffer as ArrayBuffer
    );
    self.postMessage(response, buffers);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const response: EncodeResponse = { id: request.id, ok: false, error: message };
    self.postMessage(response);
  }
}

self.onmessage = (event: MessageEvent<EncodeRequest>) => handle(event.data);
