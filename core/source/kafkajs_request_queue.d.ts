/** The part of kafkajs's internal RequestQueue that kafkajs_timer_fix.ts replaces. */
export default class RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}
