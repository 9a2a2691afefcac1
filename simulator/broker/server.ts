/**
 * The TCP side of the broker: accepts connections, reads request frames,
 * dispatches them by API key and writes the responses in request order.
 *
 * Requests of one connection are handled concurrently (a Fetch long poll does
 * not stop the next request from being read and handled) but answered in
 * order, as Kafka clients require. A protocol violation closes only that
 * connection, after the responses already due are written.
 *
 * Hostile or broken peers cannot starve the real clients: connections beyond
 * `maxConnections` are closed as they arrive, large frames share one bounded
 * budget of bytes in flight (see frame_reader.ts), and a peer silent inside a
 * frame is cut off after `frameTimeoutMs`.
 */
import {
  type ApiHandler,
  type HandlerContext,
  NO_RESPONSE,
  type RequestHeader,
} from "./protocol/api.ts";
import { ProtocolError, Reader } from "./protocol/reader.ts";
import type { Writer } from "./protocol/writer.ts";
import { API_VERSIONS_KEY, unsupportedApiVersionsBody } from "./apis/api_versions.ts";
import { FrameReader } from "./frame_reader.ts";
import { InflightBudget } from "./inflight_budget.ts";
import type { BrokerStats } from "./state.ts";

/** Requests of one connection handled at once before reading waits for answers to go out. */
const MAX_IN_FLIGHT = 32;
/** Responses smaller than this are sent as one joined buffer, larger ones chunk by chunk. */
const JOIN_BELOW = 64 * 1024;

/** What the connection loop needs from the broker. */
export interface ServerOptions {
  listener: Deno.TcpListener;
  handlers: ReadonlyMap<number, ApiHandler>;
  context: Omit<HandlerContext, "connectionId" | "clientHost">;
  maxFrameBytes: number;
  /** Connections open at once; more are closed as they arrive. */
  maxConnections: number;
  /** Bytes of large request frames read or being answered at once, over all connections. */
  maxInflightBytes: number;
  /** Longest silence (ms) of a peer inside a frame before its connection is closed. */
  frameTimeoutMs: number;
  stats: BrokerStats;
}

/** A running accept loop. */
export interface Server {
  /** Stops accepting, closes every connection and waits for their loops to end. */
  close(): Promise<void>;
  /** Bytes of large frames held now (read, being read or being answered). */
  inflightBytes(): number;
}

/** Marks a response that ends the connection. */
const CLOSE = Symbol("close");

/** Starts accepting connections on `options.listener`. */
export function serve(options: ServerOptions): Server {
  const conns = new Map<number, Deno.Conn>();
  const loops = new Set<Promise<void>>();
  let nextId = 1;
  let closed = false;
  let refusing = false;
  const budget = new InflightBudget(options.maxInflightBytes);

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await options.listener.accept();
      } catch (error) {
        if (closed) return;
        log("accept_failed", { error: String(error) });
        continue;
      }
      if (conns.size >= options.maxConnections) {
        options.stats.connectionsRefused++;
        // One line when the cap is reached, not one per refused connection.
        if (!refusing) {
          log("connections_capped", {
            limit: options.maxConnections,
            hint: "raise simulator.max_connections if these clients are real",
          });
        }
        refusing = true;
        closeQuietly(conn);
        continue;
      }
      refusing = false;
      const id = nextId++;
      conns.set(id, conn);
      options.stats.connections++;
      options.stats.connectionsTotal++;
      const loop = serveConnection(conn, id, options, budget).finally(() => {
        conns.delete(id);
        options.stats.connections--;
        loops.delete(loop);
      });
      loops.add(loop);
    }
  })();

  return {
    async close() {
      closed = true;
      options.listener.close();
      await accepting;
      for (const conn of conns.values()) closeQuietly(conn);
      await Promise.all([...loops]);
    },
    inflightBytes: () => budget.used,
  };
}

async function serveConnection(
  conn: Deno.TcpConn,
  id: number,
  options: ServerOptions,
  budget: InflightBudget,
): Promise<void> {
  conn.setNoDelay(true);
  const reader = new FrameReader(conn, {
    maxFrameBytes: options.maxFrameBytes,
    budget,
    frameTimeoutMs: options.frameTimeoutMs,
  });
  const remote = conn.remoteAddr as Deno.NetAddr;
  const ctx: HandlerContext = {
    ...options.context,
    connectionId: id,
    clientHost: `/${remote.hostname}`,
  };
  let tail: Promise<void> = Promise.resolve();
  let inFlight = 0;
  let ended = false;
  const end = (reason: string | null) => {
    if (ended) return;
    ended = true;
    reader.abort();
    if (reason !== null) {
      options.stats.connectionsRejected++;
      log("connection_closed", { connection: id, reason });
    }
    closeQuietly(conn);
  };
  try {
    while (!ended) {
      const frame = await reader.next();
      if (frame === null) break;
      options.stats.bytesIn += frame.byteLength + 4;
      options.stats.requests++;
      const answer = answerFrame(frame, options.handlers, ctx).finally(() => reader.release(frame));
      inFlight++;
      tail = tail.then(async () => {
        const out = await answer;
        inFlight--;
        if (ended) return;
        if (out === CLOSE) return end("protocol violation");
        if (out === null) return;
        try {
          options.stats.bytesOut += await writeResponse(conn, out);
        } catch (error) {
          end(isClosedError(error) ? null : `write failed: ${error}`);
        }
      });
      if (inFlight >= MAX_IN_FLIGHT) await tail;
    }
  } catch (error) {
    end(ended || isClosedError(error) ? null : String(error));
  }
  await tail;
  end(null);
}

/** The response frame of one request: header + body chunks, null for none, CLOSE to end the connection. */
async function answerFrame(
  frame: Uint8Array,
  handlers: ReadonlyMap<number, ApiHandler>,
  ctx: HandlerContext,
): Promise<Uint8Array[] | null | typeof CLOSE> {
  let header: RequestHeader | null = null;
  try {
    const body = new Reader(frame);
    const apiKey = body.int16();
    const apiVersion = body.int16();
    const correlationId = body.int32();
    const clientId = body.nullableString();
    header = { apiKey, apiVersion, correlationId, clientId };
    const handler = handlers.get(apiKey);
    if (!handler || apiVersion < handler.minVersion || apiVersion > handler.maxVersion) {
      if (apiKey === API_VERSIONS_KEY) {
        return frameResponse(
          correlationId,
          false,
          unsupportedApiVersionsBody([...handlers.values()]),
        );
      }
      log("unsupported_request", { connection: ctx.connectionId, apiKey, apiVersion, clientId });
      return CLOSE;
    }
    const flexible = handler.firstFlexibleVersion >= 0 &&
      apiVersion >= handler.firstFlexibleVersion;
    if (flexible) body.taggedFields();
    const out = await handler.handle(body, header, ctx);
    if (out === NO_RESPONSE) return null;
    return frameResponse(correlationId, flexible && apiKey !== API_VERSIONS_KEY, out);
  } catch (error) {
    const event = error instanceof ProtocolError ? "malformed_request" : "handler_failed";
    log(event, {
      connection: ctx.connectionId,
      apiKey: header?.apiKey,
      apiVersion: header?.apiVersion,
      error: error instanceof Error && event === "handler_failed" ? error.stack : String(error),
    });
    return CLOSE;
  }
}

function frameResponse(correlationId: number, taggedHeader: boolean, body: Writer): Uint8Array[] {
  const chunks = body.chunks();
  const headerSize = taggedHeader ? 9 : 8;
  const head = new Uint8Array(headerSize);
  const view = new DataView(head.buffer);
  view.setInt32(0, headerSize - 4 + body.length);
  view.setInt32(4, correlationId);
  if (chunks.length === 0 || chunks[0].byteLength >= JOIN_BELOW) return [head, ...chunks];
  const first = new Uint8Array(headerSize + chunks[0].byteLength);
  first.set(head);
  first.set(chunks[0], headerSize);
  return [first, ...chunks.slice(1)];
}

/** Writes every chunk without copying; returns the bytes written. */
async function writeResponse(conn: Deno.Conn, chunks: Uint8Array[]): Promise<number> {
  let total = 0;
  for (const chunk of chunks) {
    let at = 0;
    while (at < chunk.byteLength) at += await conn.write(chunk.subarray(at));
    total += chunk.byteLength;
  }
  return total;
}

function isClosedError(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.Interrupted || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.NotConnected;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed by the peer or by the broker's close: nothing left to release.
  }
}

function log(event: string, fields: Record<string, unknown>): void {
  console.error(JSON.stringify({ component: "broker.server", event, ...fields }));
}
