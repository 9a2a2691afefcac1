/**
 * A minimal Kafka wire client for tests that need exact control of the bytes
 * sent (hostile input, error codes): frames requests with header v1 and reads
 * framed responses.
 */
import { Reader } from "../../../simulator/broker/protocol/reader.ts";
import { Writer } from "../../../simulator/broker/protocol/writer.ts";
import { crc32c } from "../../../core/source/crc32c.ts";

/** A raw TCP connection to the broker. */
export class RawClient {
  #correlation = 1;
  #pending = new Uint8Array(0);

  private constructor(readonly conn: Deno.TcpConn) {}

  /** Connects to `port` on 127.0.0.1. */
  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Writes raw bytes. */
  async send(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.byteLength) at += await this.conn.write(bytes.subarray(at));
  }

  /** Sends a request (header v1, or v2 when `flexible`) and returns the response body after the correlation id. */
  async request(apiKey: number, version: number, body: Writer, flexible = false): Promise<Reader> {
    const correlationId = this.#correlation++;
    const w = new Writer().int16(apiKey).int16(version).int32(correlationId).nullableString(
      "raw-test",
    );
    if (flexible) w.emptyTaggedFields();
    const payload = [...w.chunks(), ...body.chunks()];
    const size = payload.reduce((s, c) => s + c.byteLength, 0);
    await this.send(new Writer().int32(size).bytes());
    for (const c of payload) await this.send(c);
    const frame = await this.readFrame();
    if (frame === null) throw new Error("Connection closed before the response");
    const r = new Reader(frame);
    const got = r.int32();
    if (got !== correlationId) {
      throw new Error(`Expected correlation id ${correlationId}, found ${got}`);
    }
    return r;
  }

  /** Reads one response frame; null when the broker closed the connection. */
  async readFrame(): Promise<Uint8Array | null> {
    const head = await this.#read(4);
    if (head === null) return null;
    const size = new DataView(head.buffer, head.byteOffset).getInt32(0);
    return await this.#read(size);
  }

  async #read(n: number): Promise<Uint8Array | null> {
    while (this.#pending.byteLength < n) {
      const buf = new Uint8Array(65536);
      let got: number | null;
      try {
        got = await this.conn.read(buf);
      } catch (error) {
        if (error instanceof Deno.errors.ConnectionReset) return null;
        throw error;
      }
      if (got === null) return null;
      const next = new Uint8Array(this.#pending.byteLength + got);
      next.set(this.#pending);
      next.set(buf.subarray(0, got), this.#pending.byteLength);
      this.#pending = next;
    }
    const out = this.#pending.slice(0, n);
    this.#pending = this.#pending.slice(n);
    return out;
  }

  /** True once the broker has closed the connection (reads end of stream). */
  async closedByPeer(): Promise<boolean> {
    return (await this.readFrame()) === null;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Closed already.
    }
  }
}

/** An uncompressed record batch v2 holding `values` (no keys, no headers) with a correct CRC. */
export function encodeBatch(values: Uint8Array[], timestamp = Date.now()): Uint8Array {
  const records = new Writer();
  values.forEach((value, i) => {
    const rec = new Writer().int8(0).varlong(0n).varint(i).varint(-1).varint(value.byteLength).raw(
      value,
    )
      .varint(0);
    records.varint(rec.length).raw(rec.bytes());
  });
  const tail = new Writer().int16(0).int32(values.length - 1).int64(timestamp).int64(timestamp)
    .int64(-1).int16(-1).int32(-1).int32(values.length).raw(records.bytes()).bytes();
  return new Writer().int64(0).int32(4 + 1 + 4 + tail.byteLength).int32(0).int8(2)
    .uint32(crc32c(tail)).raw(tail).bytes();
}

/** A Produce v3 request body for one partition. */
export function produceBody(
  topic: string,
  partition: number,
  records: Uint8Array,
  acks = 1,
): Writer {
  return new Writer().nullableString(null).int16(acks).int32(5000)
    .array([topic], (w, t) => {
      w.string(t).array([partition], (w, p) => void w.int32(p).nullableBytes(records));
    });
}

/** Reads a Produce v3 response with one partition: its error code and base offset. */
export function readProduceResponse(r: Reader): { error: number; baseOffset: bigint } {
  r.int32();
  r.string();
  r.int32();
  r.int32();
  const error = r.int16();
  const baseOffset = r.int64();
  return { error, baseOffset };
}
