// The dashboard in a real browser (Debian's chromium, driven by
// playwright-core) against a real mesh that the caller started: t/110-
// dashboard.t.  One argument, a JSON object:
//   { "url": "http://127.0.0.1:PORT/", "shots": "DIR",
//     "nodes": { "node-id": ["model", ...], ... },
//     "chat": { "type": "code", "prompt": "...", "node": "node-code",
//               "expect": "[codellama:7b]" },
//     "kill": "node-code", "pipeline": "name" or null, "slow": 1,
//     "busy": { "node": "node-code", "type": "code" } (optional: the
//     caller fills the node on "busy", frees it on "unbusy"),
//     "eject": "node-vision" (optional: the caller makes it fail tasks
//     until it is ejected on "eject") }
//
// It prints one JSON line per check, {"ok":bool,"name":...,"diag":...},
// which the caller turns into TAP.  For what only the caller can do (kill
// an agent, reload nginx) it prints {"ask":"kill"|"restart"|"reload"} and
// waits for one line on stdin before it goes on.  Deadlines only catch
// hangs; nothing is timed.

import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2]);
const slow = cfg.slow || 1;
const T = (s) => s * 1000 * slow;
mkdirSync(cfg.shots, { recursive: true });

const stdin = createInterface({ input: process.stdin });
const replies = [];
let waiting = null;
stdin.on('line', (l) => {
  if (waiting) {
    const w = waiting;
    waiting = null;
    w(l);
  } else {
    replies.push(l);
  }
});

function ask(what, extra = {}) {
  process.stdout.write(JSON.stringify({ ask: what, ...extra }) + '\n');
  if (replies.length) return Promise.resolve(replies.shift());
  return new Promise((resolve) => { waiting = resolve; });
}

let failed = 0;
function report(ok, name, diag) {
  if (!ok) failed += 1;
  process.stdout.write(JSON.stringify({ ok: !!ok, name,
                                        diag: diag ?? null }) + '\n');
  return ok;
}

// Runs fn; a throw (a wait that timed out) is a failed check.
async function check(name, fn) {
  try {
    const r = await fn();
    return report(r === undefined ? true : r.ok ?? !!r, name, r?.diag);
  } catch (e) {
    return report(false, name, String(e && e.message || e).slice(0, 2000));
  }
}

const card = (page, id) => page.getByTestId(`node-card-${id}`);
const mapNode = (page, id) => page.getByTestId(`map-node-${id}`);

async function waitStatus(page, id, pred, ms) {
  await page.waitForFunction(([i, p]) => {
    const c = document.querySelector(`[data-testid="node-card-${i}"]`);
    const m = document.querySelector(`[data-testid="map-node-${i}"]`);
    const ok = (el) => el && (p === 'down' ? el.dataset.status === 'down'
                                           : el.dataset.status !== 'down');
    // the map node must be on screen, not only in the DOM
    return ok(c) && ok(m) && getComputedStyle(m).visibility === 'visible';
  }, [id, pred], { timeout: ms });
}

// Sends one chat message from the keyboard and records every change of
// the answer's text until the answer is done or failed.
// A 1x1 PNG, for vision tasks and vision pipeline steps.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4'
                        + '2mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

// The newest answer, read from the DOM.
function lastAnswer(page) {
  return page.evaluate(() => {
    const a = document.querySelector('[data-testid="answer"]');
    const txt = (sel) => a.querySelector(sel)?.textContent ?? '';
    return {
      status: a.dataset.status,
      task: a.dataset.task,
      node: txt('[data-testid="answer-node"]').trim(),
      text: txt('[data-testid="answer-text"]'),
      error: txt('[data-testid="answer-error"]'),
      texts: window.__texts,
      steps: [...a.querySelectorAll('[data-testid="answer-step"]')]
        .map((e) => ({ node: e.dataset.node, text: e.textContent })),
    };
  });
}

// during(page), when given, runs once the answer streams.
async function chatOnce(page, { prompt, type, pipeline, image, during }) {
  if (pipeline) {
    await page.getByTestId('chat-mode').selectOption('pipeline');
    await page.getByTestId('chat-pipeline').selectOption(pipeline);
  } else {
    await page.getByTestId('chat-mode').selectOption('type');
    await page.getByTestId('chat-type').selectOption(type);
  }
  const before = await page.getByTestId('answer').count();
  await page.evaluate(() => {
    window.__texts = [];
    const box = document.querySelector('[data-testid="answers"]');
    const seen = () => {
      const a = box.querySelector('[data-testid="answer"]');
      if (!a) return;
      const t = a.querySelector('[data-testid="answer-text"]')
        || a.querySelector('[data-testid="answer-steps"] li:last-child pre');
      const text = t ? t.textContent : '';
      const lit = document.querySelector('[data-testid="mesh-map"]')
        .dataset.lit;
      const last = window.__texts[window.__texts.length - 1];
      if (!last || last.text !== text || last.status !== a.dataset.status
          || last.lit !== lit) {
        window.__texts.push({ text, status: a.dataset.status, lit });
      }
    };
    window.__obs?.disconnect();
    window.__obs = new MutationObserver(seen);
    const opts = { subtree: true, childList: true, characterData: true,
                   attributes: true };
    window.__obs.observe(box, opts);
    window.__obs.observe(document.querySelector('[data-testid="mesh-map"]'),
                         { attributes: true });
  });
  if (image) {
    await page.getByTestId('chat-image').setInputFiles(
      { name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    await page.getByText('remove dot.png').waitFor();
  }
  const box = page.getByTestId('chat-prompt');
  await box.focus();
  await box.fill(prompt);
  await page.keyboard.press('Enter');
  if (during) {
    await page.waitForFunction((n) => {
      const all = document.querySelectorAll('[data-testid="answer"]');
      return all.length > n && all[0].dataset.status === 'streaming';
    }, before, { timeout: T(30) });
    await during(page);
  }
  await page.waitForFunction((n) => {
    const all = document.querySelectorAll('[data-testid="answer"]');
    return all.length > n && ['done', 'error'].includes(all[0].dataset.status);
  }, before, { timeout: T(60) });
  if (image) await page.getByText('remove dot.png').click();
  return lastAnswer(page);
}

const browser = await chromium.launch({
  executablePath: cfg.chromium || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update',
         '--disable-sync'],
});

let page;
const problems = [];
try {
  const ctx = await browser.newContext({ viewport: { width: 1366,
                                                      height: 900 } });
  page = await ctx.newPage();
  page.setDefaultTimeout(T(15));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') {
      problems.push(`console ${m.type()}: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  const offsite = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!['127.0.0.1', 'localhost'].includes(u.hostname)
        && !u.protocol.startsWith('data')) {
      offsite.push(r.url());
    }
  });

  await check('the page loads and the feed goes live', async () => {
    await page.goto(cfg.url);
    await page.waitForSelector('[data-testid="feed-status"][data-state="live"]',
                               { timeout: T(20) });
    await page.evaluate(() => { window.__pageId = Math.random(); });
  });
  const pageId = await page.evaluate(() => window.__pageId);

  for (const [id, models] of Object.entries(cfg.nodes)) {
    await check(`a card for ${id} with its models, and a map node`,
                async () => {
      await card(page, id).waitFor({ timeout: T(20) });
      await mapNode(page, id).waitFor();
      const shown = await card(page, id).locator('.model-name').allTextContents();
      const missing = models.filter((m) => !shown.includes(m));
      const status = await card(page, id).getAttribute('data-status');
      return { ok: missing.length === 0 && status !== 'down',
               diag: `models shown: ${shown.join(', ')}; status ${status}` };
    });
  }
  // each edge runs between the orchestrator and its node, not around
  // either box (a node above the orchestrator once got its edge from the
  // orchestrator's bottom to its own top)
  await check('every map edge stays between the orchestrator and its node',
              async () => {
    const r = await page.evaluate((ids) => {
      const box = (sel) => document.querySelector(sel)
        ?.getBoundingClientRect();
      const o = box('[data-testid="map-orchestrator"]');
      return ids.map((id) => {
        const n = box(`[data-testid="map-node-${id}"]`);
        const e = box(`.react-flow__edge[data-id="e-${id}"] path`);
        if (!o || !n || !e) return { id, missing: true };
        const slack = 2;
        const inside = e.top >= Math.min(o.top, n.top) - slack
          && e.bottom <= Math.max(o.bottom, n.bottom) + slack
          && e.left >= Math.min(o.left, n.left) - slack
          && e.right <= Math.max(o.right, n.right) + slack;
        return { id, inside, edge: [e.left, e.top, e.right, e.bottom]
          .map(Math.round), node: [n.left, n.top, n.right, n.bottom]
          .map(Math.round) };
      });
    }, Object.keys(cfg.nodes));
    return { ok: r.length > 0 && r.every((x) => x.inside),
             diag: JSON.stringify(r) };
  });
  await check('no other node is shown', async () => {
    const ids = await page.locator('[data-testid^="node-card-"]')
      .evaluateAll((els) => els.map((e) => e.dataset.testid.slice(10)));
    const want = Object.keys(cfg.nodes).sort();
    return { ok: JSON.stringify(ids.sort()) === JSON.stringify(want),
             diag: `cards: ${ids.join(', ')}` };
  });
  await page.screenshot({ path: join(cfg.shots, 'dashboard-desktop.png'),
                          fullPage: true });

  // the chat, from the keyboard: Tab reaches the prompt
  await check('the keyboard reaches the chat prompt with Tab', async () => {
    await page.evaluate(() => document.activeElement?.blur());
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => document.activeElement?.id);
      if (id === 'chat-prompt') return true;
    }
    return { ok: false, diag: 'not reached in 40 Tab presses' };
  });

  let first;
  await check('a chat message streams, names its node and ends done',
              async () => {
    first = await chatOnce(page, cfg.chat);
    const streaming = first.texts.filter((t) => t.status === 'streaming'
                                                && t.text !== '');
    const distinct = new Set(streaming.map((t) => t.text)).size;
    return {
      ok: first.status === 'done' && first.node === cfg.chat.node
        && first.text.startsWith(cfg.chat.expect) && distinct >= 3,
      diag: `status ${first.status}, node "${first.node}", `
        + `${distinct} distinct texts while streaming, text "${first.text}"`
        + (first.error ? `, error ${first.error}` : ''),
    };
  });

  await check('the map lights the edge to that node while the task runs',
              () => {
    const lit = first.texts.filter((t) => t.status === 'streaming'
      && (t.lit || '').split(',').includes(cfg.chat.node));
    return { ok: lit.length > 0,
             diag: `lit while streaming: ${JSON.stringify(
               [...new Set(first.texts.map((t) => t.lit))])}` };
  });
  await page.screenshot({ path: join(cfg.shots, 'dashboard-chat.png'),
                          fullPage: true });
  await check('the task appears in the task feed, done on that node',
              async () => {
    const row = page.locator(`[data-testid="task-row"][data-task="${first.task}"]`);
    await page.waitForFunction((t) => {
      const r = document.querySelector(`[data-testid="task-row"][data-task="${t}"]`);
      return r && r.dataset.outcome === 'done';
    }, first.task, { timeout: T(15) });
    const text = await row.textContent();
    return { ok: text.includes(cfg.chat.node),
             diag: `row: ${text}` };
  });

  await check('the task feed filters by node', async () => {
    const other = Object.keys(cfg.nodes).find((n) => n !== cfg.chat.node);
    await page.getByTestId('filter-node').selectOption(other);
    const hidden = await page.locator(`[data-testid="task-row"][data-task="${first.task}"]`).count();
    await page.getByTestId('filter-node').selectOption(cfg.chat.node);
    const shown = await page.locator(`[data-testid="task-row"][data-task="${first.task}"]`).count();
    await page.getByTestId('filter-node').selectOption('');
    return { ok: hidden === 0 && shown === 1,
             diag: `rows for ${other}: ${hidden}, for ${cfg.chat.node}: ${shown}` };
  });

  // the agent dies while it streams an answer: the answer says so plainly,
  // and the card and map node turn down
  const cut = problems.length;
  await check(`${cfg.kill}'s agent killed mid-stream: the answer shows `
              + 'the mesh\'s error, not a complete reply', async () => {
    const r = await chatOnce(page, {
      ...cfg.chat, prompt: 'cut me off',
      during: async (p) => {
        await p.waitForFunction(() => (document.querySelector(
          '[data-testid="answer"] [data-testid="answer-text"]')
          ?.textContent.length ?? 0) > 20, null, { timeout: T(20) });
        await ask('kill', { node: cfg.kill });
      } });
    // The mesh writes an error line, then cuts the chunked reply.  Chromium
    // may fail the read before it hands that last line to the page, so the
    // answer says either the mesh's line or that the reply broke off; the
    // feed's task.failed then names the reason.
    await page.waitForFunction(() => /failed/.test(document.querySelector(
      '[data-testid="answer"] [data-testid="answer-feed-outcome"]')
      ?.textContent ?? ''), null, { timeout: T(15) });
    const outcome = await page.evaluate(() => document.querySelector(
      '[data-testid="answer"] [data-testid="answer-feed-outcome"]')
      .textContent);
    return { ok: r.status === 'error' && r.node === cfg.kill
               && (r.error.includes(`node "${cfg.kill}" failed mid-stream`)
                   || r.error.includes('the reply broke off'))
               && outcome.includes('node_failed_mid_stream')
               && r.text.startsWith(cfg.chat.expect),
             diag: `status ${r.status}, node ${r.node}, error "${r.error}", `
               + `feed "${outcome}", text "${r.text}"` };
  });
  // Chromium logs the cut reply itself; that one line is expected here
  for (let i = problems.length - 1; i >= cut; i--) {
    if (/ERR_INCOMPLETE_CHUNKED_ENCODING/.test(problems[i])) {
      problems.splice(i, 1);
      break;
    }
  }
  await check(`${cfg.kill}'s card and map node turn down`, async () => {
    await waitStatus(page, cfg.kill, 'down', T(20));
  });
  await page.screenshot({ path: join(cfg.shots, 'dashboard-node-down.png'),
                          fullPage: true });
  await check('the other nodes stay up', async () => {
    const st = await page.locator('[data-testid^="node-card-"]').evaluateAll(
      (els) => els.map((e) => `${e.dataset.testid.slice(10)}=${e.dataset.status}`));
    const bad = st.filter((s) => !s.startsWith(`${cfg.kill}=`)
                                 && s.endsWith('=down'));
    return { ok: bad.length === 0, diag: st.join(', ') };
  });

  await ask('restart', { node: cfg.kill });
  await check(`restarting ${cfg.kill}'s agent brings it back`, async () => {
    await waitStatus(page, cfg.kill, 'up', T(20));
  });
  await check('all of that without a page reload', async () => {
    const id = await page.evaluate(() => window.__pageId);
    return { ok: id === pageId, diag: `page id ${id} vs ${pageId}` };
  });

  const snaps = Number(await page.getByTestId('summary')
    .getAttribute('data-snapshots'));
  await ask('reload');
  await check('after an nginx reload the page reconnects with a fresh snapshot',
              async () => {
    await page.waitForFunction((n) => {
      const s = document.querySelector('[data-testid="summary"]');
      const f = document.querySelector('[data-testid="feed-status"]');
      return Number(s.dataset.snapshots) > n && f.dataset.state === 'live';
    }, snaps, { timeout: T(30) });
    for (const id of Object.keys(cfg.nodes)) {
      await card(page, id).waitFor();
    }
  });
  await check('a chat message after the reload is served too', async () => {
    const r = await chatOnce(page, { ...cfg.chat, prompt: 'after reload' });
    return { ok: r.status === 'done' && r.node === cfg.chat.node,
             diag: `status ${r.status}, node ${r.node}, ${r.error}` };
  });

  await check('a vision message with an attached image goes to the vision '
              + 'node', async () => {
    const r = await chatOnce(page, { type: 'vision', prompt: 'what is this',
                                     image: true });
    return { ok: r.status === 'done' && r.node === cfg.vision.node
               && r.text.startsWith(cfg.vision.expect),
             diag: `status ${r.status}, node ${r.node}, text "${r.text}", `
               + `${r.error}` };
  });

  if (cfg.pipeline) {
    await check(`pipeline ${cfg.pipeline} from the chat shows both steps `
                + 'and their nodes', async () => {
      const r = await chatOnce(page, { prompt: 'a picture', image: true,
                                       pipeline: cfg.pipeline });
      const nodes = r.steps.map((s) => s.node);
      return { ok: r.status === 'done' && r.steps.length === 2
                 && nodes.every((n) => n && n !== '?'),
               diag: `status ${r.status}, steps ${JSON.stringify(r.steps)}, `
                 + `${r.error}` };
    });
  }

  await page.screenshot({ path: join(cfg.shots, 'dashboard-desktop-after.png'),
                          fullPage: true });

  await check('phone width: one column, nothing wider than the screen',
              async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    // the map fits itself again: every map node inside the map's box
    await page.waitForFunction(() => {
      const box = document.querySelector('[data-testid="mesh-map"]')
        .getBoundingClientRect();
      const ns = document.querySelectorAll('[data-testid^="map-node-"]');
      return ns.length > 0 && [...ns].every((n) => {
        const b = n.getBoundingClientRect();
        return b.left >= box.left && b.right <= box.right
          && b.top >= box.top && b.bottom <= box.bottom;
      });
    }, null, { timeout: T(10) });
    const r = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      inner: window.innerWidth,
      cols: getComputedStyle(document.querySelector('.grid'))
        .gridTemplateColumns.split(' ').length,
    }));
    await page.screenshot({ path: join(cfg.shots, 'dashboard-phone.png'),
                            fullPage: true });
    return { ok: r.scroll <= r.inner && r.cols === 1,
             diag: JSON.stringify(r) };
  });

  await check('nothing was fetched from outside the mesh', () => ({
    ok: offsite.length === 0, diag: offsite.join(' ') }));
  await check('no console errors or warnings', () => ({
    ok: problems.length === 0, diag: problems.join('\n') }));

  // Last, as the browser logs every 503 it fetches as a console error.
  await page.setViewportSize({ width: 1366, height: 900 });
  if (cfg.busy) {
    await ask('busy', { node: cfg.busy.node });
    await check(`a chat task while ${cfg.busy.node} is full: the 503 with `
                + 'its estimated wait is shown plainly', async () => {
      const r = await chatOnce(page, { type: cfg.busy.type,
                                       prompt: 'no room' });
      return { ok: r.status === 'error'
                 && /^HTTP 503: .*\(estimated wait \d+ s\)/.test(r.error)
                 && await page.getByTestId('answer').first()
                   .getByTestId('answer-error').isVisible(),
               diag: `status ${r.status}, error "${r.error}"` };
    });
    await ask('unbusy', { node: cfg.busy.node });
  }
  if (cfg.eject) {
    await ask('eject', { node: cfg.eject });
    await check(`${cfg.eject}, ejected after failing tasks, looks ejected `
                + 'on its card, on the map and in the header',
                async () => {
      await page.waitForFunction((i) => [
        `[data-testid="node-card-${i}"]`, `[data-testid="map-node-${i}"]`,
      ].every((q) => document.querySelector(q)?.dataset.status
                     === 'ejected'), cfg.eject, { timeout: T(20) });
      const look = await page.evaluate((i) => {
        const c = document.querySelector(`[data-testid="node-card-${i}"]`);
        const m = document.querySelector(`[data-testid="map-node-${i}"]`);
        const e = document.querySelector('[data-testid="ejected-count"]');
        return { card: c.className, map: m.className,
                 text: c.textContent, summary: e && e.textContent };
      }, cfg.eject);
      return { ok: /card-ejected/.test(look.card)
                 && /map-ejected/.test(look.map)
                 && /ejected/.test(look.text)
                 && look.summary === '1 ejected',
               diag: JSON.stringify(look) };
    });
    await page.screenshot({ path: join(cfg.shots,
                                       'dashboard-503-ejected.png'),
                            fullPage: true });
  }
} catch (e) {
  report(false, 'the browser script ran to its end', String(e.stack || e));
} finally {
  await browser.close();
  stdin.close();
}
process.exit(failed ? 1 : 0);
