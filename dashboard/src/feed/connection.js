// The feed connection: a WebSocket to /mesh/v1/feed that comes back by
// itself.  nginx closes it with 1001 on reload or stop and with 1008 when
// the page falls too far behind; either way the page reconnects with
// backoff and the server's first message, a fresh snapshot, replaces what
// it knew.

// A message longer than this is dropped (and counted), never parsed.
export const MAX_MESSAGE = 4 * 1024 * 1024;

export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 10000;

// The wait before reconnect attempt n (0-based): doubling from
// BACKOFF_MIN_MS up to BACKOFF_MAX_MS, with up to 25% jitter so that many
// pages reconnecting after a reload do not arrive all at once.
export function backoffDelay(attempt, rand = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
  return Math.round(base * (1 - 0.25 * rand()));
}

export function feedUrl(loc = window.location, query = '') {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${loc.host}/mesh/v1/feed${query}`;
}

// Opens the feed.  onMessage(msg) gets each decoded message; onStatus(s)
// gets {state: 'connecting'|'live'|'reconnecting', code, reason, attempt,
// retryMs}.  Returns {close()}.
export function connectFeed({ url, onMessage, onStatus,
                              WebSocketImpl = WebSocket,
                              schedule = setTimeout,
                              cancel = clearTimeout }) {
  let ws = null;
  let timer = null;
  let attempt = 0;
  let closed = false;
  let dropped = 0;

  function open() {
    timer = null;
    onStatus({ state: 'connecting', attempt });
    ws = new WebSocketImpl(url);
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string' || e.data.length > MAX_MESSAGE) {
        dropped += 1;
        return;
      }
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        dropped += 1;
        return;
      }
      if (msg && msg.event === 'snapshot') {
        attempt = 0;
        onStatus({ state: 'live', dropped });
      }
      onMessage(msg);
    };
    ws.onclose = (e) => {
      ws = null;
      if (closed) return;
      const retryMs = backoffDelay(attempt);
      onStatus({ state: 'reconnecting', code: e.code, reason: e.reason,
                 attempt: attempt + 1, retryMs });
      attempt += 1;
      timer = schedule(open, retryMs);
    };
    // an error is always followed by close, which does the work
    ws.onerror = () => {};
  }

  open();

  return {
    close() {
      closed = true;
      if (timer !== null) cancel(timer);
      if (ws) ws.close(1000, 'page closed');
    },
  };
}
