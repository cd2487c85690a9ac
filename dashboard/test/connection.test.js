import { describe, expect, it } from 'vitest';
import { BACKOFF_MAX_MS, BACKOFF_MIN_MS, MAX_MESSAGE, backoffDelay,
         connectFeed, feedUrl } from '../src/feed/connection.js';

class FakeWs {
  static all = [];
  constructor(url) {
    this.url = url;
    FakeWs.all.push(this);
  }
  close(code, reason) { this.closedWith = [code, reason]; }
}

function harness() {
  FakeWs.all = [];
  const timers = [];
  const msgs = [];
  const statuses = [];
  const feed = connectFeed({
    url: 'ws://x/mesh/v1/feed', WebSocketImpl: FakeWs,
    onMessage: (m) => msgs.push(m), onStatus: (s) => statuses.push(s),
    schedule: (fn, ms) => { timers.push({ fn, ms }); return timers.length; },
    cancel: (id) => { timers[id - 1].cancelled = true; },
  });
  return { feed, timers, msgs, statuses };
}

describe('backoff', () => {
  it('doubles from the minimum to the cap, with at most 25% jitter', () => {
    expect(backoffDelay(0, () => 0)).toBe(BACKOFF_MIN_MS);
    expect(backoffDelay(1, () => 0)).toBe(2 * BACKOFF_MIN_MS);
    expect(backoffDelay(30, () => 0)).toBe(BACKOFF_MAX_MS);
    expect(backoffDelay(0, () => 1)).toBe(0.75 * BACKOFF_MIN_MS);
  });

  it('builds ws: and wss: URLs from the page', () => {
    expect(feedUrl({ protocol: 'http:', host: 'h:8080' }))
      .toBe('ws://h:8080/mesh/v1/feed');
    expect(feedUrl({ protocol: 'https:', host: 'h' }, '?only=task.*'))
      .toBe('wss://h/mesh/v1/feed?only=task.*');
  });
});

describe('connectFeed', () => {
  it('passes messages on, reconnects after a close, with backoff', () => {
    const h = harness();
    const ws = FakeWs.all[0];
    expect(ws.url).toBe('ws://x/mesh/v1/feed');
    ws.onmessage({ data: '{"event":"snapshot","nodes":[]}' });
    ws.onmessage({ data: '{"event":"node.down","node_id":"a"}' });
    expect(h.msgs.map((m) => m.event)).toEqual(['snapshot', 'node.down']);
    expect(h.statuses.at(-1).state).toBe('live');

    ws.onclose({ code: 1001, reason: 'going away' });
    expect(h.statuses.at(-1)).toMatchObject({ state: 'reconnecting',
                                              code: 1001, attempt: 1 });
    expect(h.timers).toHaveLength(1);
    h.timers[0].fn();
    expect(FakeWs.all).toHaveLength(2);

    // no snapshot on the new socket: the next wait is longer
    FakeWs.all[1].onclose({ code: 1006, reason: '' });
    expect(h.timers[1].ms).toBeGreaterThan(h.timers[0].ms * 1.3);

    // a snapshot resets the backoff
    h.timers[1].fn();
    FakeWs.all[2].onmessage({ data: '{"event":"snapshot","nodes":[]}' });
    FakeWs.all[2].onclose({ code: 1008, reason: 'too slow' });
    expect(h.timers[2].ms).toBeLessThanOrEqual(BACKOFF_MIN_MS);
  });

  it('drops what is not JSON or too long, and counts it', () => {
    const h = harness();
    const ws = FakeWs.all[0];
    ws.onmessage({ data: 'not json' });
    ws.onmessage({ data: 'x'.repeat(MAX_MESSAGE + 1) });
    ws.onmessage({ data: new ArrayBuffer(2) });
    ws.onmessage({ data: '{"event":"snapshot","nodes":[]}' });
    expect(h.msgs).toHaveLength(1);
    expect(h.statuses.at(-1)).toEqual({ state: 'live', dropped: 3 });
  });

  it('close() stops for good', () => {
    const h = harness();
    h.feed.close();
    expect(FakeWs.all[0].closedWith[0]).toBe(1000);
    FakeWs.all[0].onclose({ code: 1000 });
    expect(h.timers).toHaveLength(0);
  });
});
