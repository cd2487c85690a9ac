import { describe, expect, it } from 'vitest';
import { MAX_TASKS, applyMessage, filterTasks, initialState, isLit,
         meshModels, nodeStatus } from '../src/feed/state.js';

const caps = (id, extra = {}) => ({
  node_id: id, host: '127.0.0.1', port: 50052,
  models: [{ name: 'mistral:7b', type: 'text', size_gb: 4, loaded: false }],
  hardware: { ram_total_gb: 16, ram_free_gb: 6, has_gpu: false,
              gpu_vram_gb: 0 },
  status: 'idle', active_tasks: 0, max_tasks: 4, ...extra,
});

const snap = (nodes, extra = {}) => ({
  event: 'snapshot', ts: 1000, queued: 0, pipelines: [],
  nodes: nodes.map((n) => ({ ...n, up: true, last_seen: 900,
                             last_seen_ago_ms: 100, tasks_done: 3,
                             tasks_failed: 1, recent_tokens_per_sec: 20 })),
  ...extra,
});

const run = (msgs, now = 5000) =>
  msgs.reduce((s, m) => applyMessage(s, m, now), initialState());

describe('snapshot', () => {
  it('lists every node, the queue and the pipelines', () => {
    const s = run([snap([caps('a'), caps('b')], {
      queued: 2, pipelines: [{ name: 'describe-and-summarize' }] })]);
    expect(s.order).toEqual(['a', 'b']);
    expect(s.nodes.a.tasks_done).toBe(3);
    expect(s.nodes.a.seen_at).toBe(4900);
    expect(s.queued).toBe(2);
    expect(s.pipelines).toEqual([{ name: 'describe-and-summarize' }]);
    expect(s.snapshots).toBe(1);
  });

  it('a fresh snapshot replaces the nodes (a node gone while away goes)',
     () => {
    const s = run([snap([caps('a'), caps('b')]),
                   { event: 'node.down', ts: 1100, node_id: 'b' },
                   snap([caps('a')])]);
    expect(s.order).toEqual(['a']);
    expect(s.nodes.b).toBeUndefined();
    expect(s.snapshots).toBe(2);
  });

  it('keeps the task log across reconnects', () => {
    const s = run([snap([caps('a')]),
                   { event: 'task.routed', ts: 1, task_id: 't1',
                     node_id: 'a', model: 'mistral:7b', type: 'text' },
                   snap([caps('a')])]);
    expect(s.tasks.map((t) => t.id)).toEqual(['t1']);
  });

  it('ignores entries without a node_id and a snapshot without nodes',
     () => {
    const s = run([{ event: 'snapshot', ts: 1,
                     nodes: [null, { host: 'x' }, caps('a')] }]);
    expect(s.order).toEqual(['a']);
    expect(run([{ event: 'snapshot', ts: 1 }]).order).toEqual([]);
  });
});

describe('node events', () => {
  it('join adds a node, heartbeat updates it in place', () => {
    const s = run([snap([]),
                   { event: 'node.join', ts: 2, ...caps('c') },
                   { event: 'node.heartbeat', ts: 3,
                     ...caps('c', { hardware: { ram_total_gb: 16,
                                                ram_free_gb: 2 } }) }]);
    expect(s.order).toEqual(['c']);
    expect(s.nodes.c.up).toBe(true);
    expect(s.nodes.c.hardware.ram_free_gb).toBe(2);
    expect(s.nodes.c.tasks_done).toBe(0);
    expect(s.nodes.c.event).toBeUndefined();
  });

  it('down then up: the card stays, its status changes', () => {
    let s = run([snap([caps('a')]),
                 { event: 'node.down', ts: 2, node_id: 'a' }]);
    expect(nodeStatus(s.nodes.a)).toBe('down');
    expect(s.order).toEqual(['a']);
    s = applyMessage(s, { event: 'node.up', ts: 3, ...caps('a') }, 6000);
    expect(nodeStatus(s.nodes.a)).toBe('idle');
    expect(s.nodes.a.tasks_done).toBe(3);    // stats survive
    expect(s.nodes.a.seen_at).toBe(6000);
  });

  it('leave removes the node and its edge', () => {
    const s = run([snap([caps('a'), caps('b')]),
                   { event: 'task.routed', ts: 2, task_id: 't',
                     node_id: 'b' },
                   { event: 'node.leave', ts: 3, node_id: 'b' }]);
    expect(s.order).toEqual(['a']);
    expect(s.routes.b).toBeUndefined();
  });

  it('load sets the active count; unknown nodes are ignored', () => {
    const s0 = run([snap([caps('a')])]);
    const s = applyMessage(s0, { event: 'node.load', ts: 2, node_id: 'a',
                                 active: 2 });
    expect(s.nodes.a.active_tasks).toBe(2);
    expect(nodeStatus(s.nodes.a)).toBe('busy');
    expect(applyMessage(s0, { event: 'node.load', node_id: 'zz',
                              active: 1 })).toBe(s0);
    expect(applyMessage(s0, { event: 'node.down', node_id: 'zz' })).toBe(s0);
  });

  it('draining, degraded and ejected look different from down', () => {
    const s = run([snap([caps('a', { status: 'draining' }),
                         caps('b', { status: 'degraded' }), caps('c')]),
                   { event: 'node.ejected', ts: 2, node_id: 'c',
                     reason: 'errors' }]);
    expect(nodeStatus(s.nodes.a)).toBe('draining');
    expect(nodeStatus(s.nodes.b)).toBe('degraded');
    expect(nodeStatus(s.nodes.c)).toBe('ejected');
    const back = applyMessage(s, { event: 'node.up', ts: 3, ...caps('c') });
    expect(nodeStatus(back.nodes.c)).toBe('idle');
  });

  it('does not mutate the state it was given', () => {
    const s0 = run([snap([caps('a')])]);
    const copy = JSON.stringify(s0);
    applyMessage(s0, { event: 'node.down', ts: 2, node_id: 'a' });
    applyMessage(s0, { event: 'task.done', ts: 2, task_id: 'x',
                       node_id: 'a', tokens_per_sec: 9 });
    expect(JSON.stringify(s0)).toBe(copy);
  });
});

describe('task events', () => {
  const routed = { event: 'task.routed', ts: 10, task_id: 't1',
                   node_id: 'a', model: 'mistral:7b', type: 'text' };

  it('one row per task, updated through its life', () => {
    const s = run([snap([caps('a')]), routed,
                   { event: 'task.first_token', ts: 11, task_id: 't1',
                     node_id: 'a', model: 'mistral:7b', type: 'text' },
                   { event: 'task.done', ts: 12, task_id: 't1',
                     node_id: 'a', model: 'mistral:7b', type: 'text',
                     tokens: 24, duration_ms: 960, tokens_per_sec: 25 }]);
    expect(s.tasks).toHaveLength(1);
    const t = s.tasks[0];
    expect(t).toMatchObject({ id: 't1', ts: 10, outcome: 'done',
                              node_id: 'a', model: 'mistral:7b',
                              tokens: 24, duration_ms: 960 });
    expect(t.trail).toEqual(['routed', 'streaming', 'done']);
    expect(s.nodes.a.tasks_done).toBe(4);
    expect(s.nodes.a.recent_tokens_per_sec).toBe(25);
  });

  it('a routed task lights its edge for a while', () => {
    const s = run([snap([caps('a'), caps('b')]), routed], 5000);
    expect(isLit(s, 'a', 5100)).toBe(true);
    expect(isLit(s, 'b', 5100)).toBe(false);
    expect(isLit(s, 'a', 5000 + 60000)).toBe(false);
  });

  it('failures count on the node and stand out in the log', () => {
    const s = run([snap([caps('a')]), routed,
                   { event: 'task.failed', ts: 12, task_id: 't1',
                     node_id: 'a', reason: 'node_failed_mid_stream' }]);
    expect(s.tasks[0]).toMatchObject({ outcome: 'failed',
                                       reason: 'node_failed_mid_stream' });
    expect(s.nodes.a.tasks_failed).toBe(2);
  });

  it('retried then routed elsewhere', () => {
    const s = run([snap([caps('a'), caps('b')]), routed,
                   { event: 'task.retried', ts: 11, task_id: 't1',
                     node_id: 'a', reason: 'failed' },
                   { ...routed, ts: 12, node_id: 'b', reason: 'retry' }]);
    expect(s.tasks[0]).toMatchObject({ outcome: 'routed', node_id: 'b',
                                       reason: 'retry' });
    expect(s.tasks[0].trail).toEqual(['routed', 'retried', 'routed']);
  });

  it('the queue count follows queued, routed and expired tasks', () => {
    let s = run([snap([caps('a')], { queued: 1 }),
                 { event: 'task.queued', ts: 1, task_id: 'q1', position: 1 },
                 { event: 'task.queued', ts: 2, task_id: 'q2', position: 2 }]);
    expect(s.queued).toBe(3);
    s = applyMessage(s, { ...routed, task_id: 'q1' });
    s = applyMessage(s, { event: 'task.expired', ts: 3, task_id: 'q2' });
    expect(s.queued).toBe(1);
    expect(s.tasks.find((t) => t.id === 'q2').outcome).toBe('expired');
    // a second end of the same task does not count twice
    s = applyMessage(s, { event: 'task.cancelled', ts: 4, task_id: 'q2' });
    expect(s.queued).toBe(1);
  });

  it('keeps at most MAX_TASKS rows, newest first', () => {
    const msgs = [snap([caps('a')])];
    for (let i = 0; i < MAX_TASKS + 5; i++) {
      msgs.push({ ...routed, task_id: `t${i}` });
    }
    const s = run(msgs);
    expect(s.tasks).toHaveLength(MAX_TASKS);
    expect(s.tasks[0].id).toBe(`t${MAX_TASKS + 4}`);
  });

  it('filters by node and outcome', () => {
    const s = run([snap([caps('a'), caps('b')]), routed,
                   { ...routed, task_id: 't2', node_id: 'b' },
                   { event: 'task.done', ts: 12, task_id: 't2',
                     node_id: 'b' }]);
    expect(filterTasks(s.tasks, { node: 'b' }).map((t) => t.id))
      .toEqual(['t2']);
    expect(filterTasks(s.tasks, { outcome: 'routed' }).map((t) => t.id))
      .toEqual(['t1']);
    expect(filterTasks(s.tasks, { node: 'a', outcome: 'done' })).toEqual([]);
    expect(filterTasks(s.tasks)).toHaveLength(2);
  });
});

describe('pipelines and odd input', () => {
  it('a pipeline row and its steps tagged', () => {
    const s = run([snap([caps('a')]),
                   { event: 'pipeline.started', ts: 1, pipeline_id: 'p1',
                     pipeline: 'describe-and-summarize' },
                   { event: 'pipeline.step', ts: 2, pipeline_id: 'p1',
                     pipeline: 'describe-and-summarize', index: 1,
                     task_id: 's1', node_id: 'a' },
                   { event: 'task.routed', ts: 3, task_id: 's1',
                     node_id: 'a', type: 'vision' },
                   { event: 'pipeline.done', ts: 4, pipeline_id: 'p1' }]);
    const p = s.tasks.find((t) => t.id === 'pipeline:p1');
    expect(p).toMatchObject({ kind: 'pipeline', outcome: 'done',
                              model: 'describe-and-summarize' });
    const step = s.tasks.find((t) => t.id === 's1');
    expect(step).toMatchObject({ pipeline: 'describe-and-summarize',
                                 step: 1, outcome: 'routed' });
  });

  it('ignores what it does not know', () => {
    const s0 = run([snap([caps('a')])]);
    for (const m of [null, 42, 'x', {}, { event: 7 },
                     { event: 'mesh.future', ts: 1 },
                     { event: 'task.done' },
                     { event: 'node.join', ts: 1 }]) {
      expect(applyMessage(s0, m)).toBe(s0);
    }
  });

  it('lists the mesh models once each, sorted', () => {
    const s = run([snap([caps('a'), caps('b', {
      models: [{ name: 'llava:7b', type: 'vision' },
               { name: 'mistral:7b', type: 'text' }] })])]);
    expect(meshModels(s)).toEqual([{ name: 'llava:7b', type: 'vision' },
                                   { name: 'mistral:7b', type: 'text' }]);
  });
});
