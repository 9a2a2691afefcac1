// Talks to the API of the process serving this page; errors are shown on the page, never thrown.

const TOKEN_KEY = "fink.token";

/** GETs a JSON document; throws an Error carrying the API's message. */
export async function getJson(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

/** POSTs to a control endpoint with the bearer token; resolves to { status, body }. */
export async function postControl(path, token) {
  const res = await fetch(path, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  return { status: res.status, body };
}

/** The control token kept for this browser tab, or null. */
export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps the control token for this tab (null forgets it). */
export function saveToken(token) {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** Calls `task` now and every `ms`, showing failures in `statusEl`; waits for each call to finish. */
export function every(ms, task, statusEl) {
  let stopped = false;
  const run = async () => {
    try {
      await task();
      if (statusEl) statusEl.hidden = true;
    } catch (e) {
      if (statusEl) {
        statusEl.hidden = false;
        statusEl.textContent = `Cannot reach the API: ${e.message}`;
      }
    }
    if (!stopped) setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
  };
}
