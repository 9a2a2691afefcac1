/**
 * Fixes kafkajs 2.2.4's request queue, which asks for a timer of minus the
 * current epoch in milliseconds after every request (tulios/kafkajs#1751):
 * `throttledUntil` starts at -1, and `scheduleCheckPendingRequests` passes
 * `throttledUntil - Date.now()` to setTimeout even when nothing waits. The
 * runtime clamps that to 1 ms and prints a TimeoutNegativeWarning at every
 * start, and each connection then wakes every millisecond for nothing.
 *
 * The replacement schedules a check only for requests that are waiting (a
 * request that cannot be sent at once is queued by `push`, which calls this
 * again): at the end of the client-side throttle, else after the queue's
 * usual 10 ms. Imported for its effect by every module that imports kafkajs;
 * kafkajs is pinned in deno.json, so the method replaced is the one above.
 */
// @ts-types="./kafkajs_request_queue.d.ts"
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";

/** kafkajs's CHECK_PENDING_REQUESTS_INTERVAL. */
const CHECK_PENDING_MS = 10;

RequestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueue) {
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
  const throttledFor = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, throttledFor > 0 ? throttledFor : CHECK_PENDING_MS);
};
