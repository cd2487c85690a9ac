// The dashboard's picture of the mesh, built only from feed messages
// (README "Live feed"): a snapshot first, then mesh:events and mesh:tasks
// verbatim.  Pure functions: applyMessage(state, msg, now) returns a new
// state and never mutates the old one, so React sees every change.

// The task log keeps this many rows (newest first); older ones drop off.
export const MAX_TASKS = 300;

// A routed edge stays lit this long after its last task.routed.
export const ROUTE_LIT_MS = 2500;

const OUTCOMES = {
  'task.queued': 'queued',
  'task.routed': 'routed',
  'task.first_token': 'streaming',
  'task.retried': 'retried',
  'task.done': 'done',
  'task.failed': 'failed',
  'task.expired': 'expired',
  'task.cancelled': 'cancelled',
};

// Task outcomes that mean the task no longer waits in the queue.
const LEAVES_QUEUE = new Set(['task.routed', 'task.expired',
                              'task.cancelled', 'task.failed']);

export function initialState() {
  return {
    nodes: {},        // node_id -> node (fields of GET /mesh/v1/nodes)
    order: [],        // node ids in the order they appeared
    queued: 0,
    pipelines: [],
    tasks: [],        // task rows, newest first
    routes: {},       // node_id -> local ms of its last task.routed
    snapshots: 0,     // snapshots taken (1 + reconnects)
    lastEventTs: 0,
  };
}

function withoutMeta(msg) {
  const { event, ts, ...rest } = msg;
  return rest;
}

function putNode(state, id, node) {
  const nodes = { ...state.nodes, [id]: node };
  const order = state.order.includes(id) ? state.order : [...state.order, id];
  return { ...state, nodes, order };
}

function snapshot(state, msg, now) {
  const nodes = {};
  const order = [];
  for (const n of Array.isArray(msg.nodes) ? msg.nodes : []) {
    if (!n || typeof n.node_id !== 'string') continue;
    const ago = Number.isFinite(n.last_seen_ago_ms) ? n.last_seen_ago_ms : 0;
    nodes[n.node_id] = { ...n, seen_at: now - ago };
    order.push(n.node_id);
  }
  return {
    ...state,
    nodes,
    order,
    queued: Number.isFinite(msg.queued) ? msg.queued : 0,
    pipelines: Array.isArray(msg.pipelines) ? msg.pipelines : [],
    routes: {},
    snapshots: state.snapshots + 1,
  };
}

function nodeEvent(state, msg, now) {
  const id = msg.node_id;
  if (typeof id !== 'string') return state;
  const old = state.nodes[id];

  switch (msg.event) {
  case 'node.join':
  case 'node.up':
  case 'node.update':
  case 'node.heartbeat': {
    const caps = withoutMeta(msg);
    const node = {
      tasks_done: 0, tasks_failed: 0, recent_tokens_per_sec: 0,
      ...old, ...caps, up: true, seen_at: now,
    };
    if (msg.event === 'node.join' || msg.event === 'node.up') {
      node.ejected = false;
    }
    return putNode(state, id, node);
  }
  case 'node.down':
    return old ? putNode(state, id, { ...old, up: false }) : state;
  case 'node.ejected':
    return old ? putNode(state, id, { ...old, ejected: true,
                                      ejected_reason: msg.reason }) : state;
  case 'node.leave': {
    if (!old) return state;
    const { [id]: gone, ...nodes } = state.nodes;
    const { [id]: route, ...routes } = state.routes;
    return { ...state, nodes, routes,
             order: state.order.filter((x) => x !== id) };
  }
  case 'node.load':
    return old && Number.isFinite(msg.active)
      ? putNode(state, id, { ...old, active_tasks: msg.active }) : state;
  default:
    return state;
  }
}

function upsertTask(state, id, fn) {
  const i = state.tasks.findIndex((t) => t.id === id);
  let tasks;
  if (i >= 0) {
    tasks = state.tasks.slice();
    tasks[i] = fn(tasks[i]);
  } else {
    tasks = [fn(null), ...state.tasks].slice(0, MAX_TASKS);
  }
  return { ...state, tasks };
}

function taskEvent(state, msg, now) {
  const id = msg.task_id;
  if (typeof id !== 'string') return state;
  const outcome = OUTCOMES[msg.event];

  let next = upsertTask(state, id, (row) => {
    const r = row || { id, ts: msg.ts || now, kind: 'task', trail: [] };
    const upd = { ...r, outcome, trail: [...r.trail, outcome] };
    for (const k of ['type', 'model', 'node_id', 'reason', 'tokens',
                     'duration_ms', 'tokens_per_sec', 'position']) {
      if (msg[k] !== undefined) upd[k] = msg[k];
    }
    if (msg.event === 'task.queued') upd.was_queued = true;
    if (msg.event === 'task.routed' || msg.event === 'task.done') {
      delete upd.reason;
      if (msg.reason !== undefined) upd.reason = msg.reason;
    }
    return upd;
  });

  if (msg.event === 'task.queued') {
    next = { ...next, queued: next.queued + 1 };
  } else if (LEAVES_QUEUE.has(msg.event)) {
    const row = state.tasks.find((t) => t.id === id);
    if (row && row.was_queued && row.outcome === 'queued') {
      next = { ...next, queued: Math.max(0, next.queued - 1) };
    }
  }

  const nid = msg.node_id;
  const node = typeof nid === 'string' ? next.nodes[nid] : undefined;
  if (msg.event === 'task.routed' && typeof nid === 'string') {
    next = { ...next, routes: { ...next.routes, [nid]: now } };
  } else if (msg.event === 'task.done' && node) {
    next = putNode(next, nid, {
      ...node,
      tasks_done: (node.tasks_done || 0) + 1,
      recent_tokens_per_sec: Number.isFinite(msg.tokens_per_sec)
        ? msg.tokens_per_sec : node.recent_tokens_per_sec,
    });
  } else if (msg.event === 'task.failed' && node) {
    next = putNode(next, nid, {
      ...node, tasks_failed: (node.tasks_failed || 0) + 1,
    });
  }
  return next;
}

// pipeline.started / step / done / failed (issue 9).  A pipeline gets a row
// of its own; a step's own task row is tagged with its pipeline and index
// so the two can be read together.
function pipelineEvent(state, msg, now) {
  const pid = msg.pipeline_id ?? msg.id;
  let next = state;
  if (typeof pid === 'string') {
    const outcome = msg.event.slice('pipeline.'.length);
    next = upsertTask(next, 'pipeline:' + pid, (row) => {
      const r = row || { id: 'pipeline:' + pid, ts: msg.ts || now,
                         kind: 'pipeline', type: 'pipeline', trail: [] };
      const upd = { ...r, outcome, trail: [...r.trail, outcome] };
      if (msg.pipeline !== undefined || msg.name !== undefined) {
        upd.model = msg.pipeline ?? msg.name;
      }
      for (const k of ['node_id', 'reason', 'duration_ms', 'index']) {
        if (msg[k] !== undefined) upd[k] = msg[k];
      }
      return upd;
    });
  }
  if (msg.event === 'pipeline.step' && typeof msg.task_id === 'string') {
    next = upsertTask(next, msg.task_id, (row) => ({
      ...(row || { id: msg.task_id, ts: msg.ts || now, kind: 'task',
                   outcome: 'step', trail: [] }),
      pipeline: msg.pipeline ?? msg.name ?? pid,
      step: msg.index,
    }));
  }
  return next;
}

export function applyMessage(state, msg, now = Date.now()) {
  if (!msg || typeof msg !== 'object' || typeof msg.event !== 'string') {
    return state;
  }
  let next;
  if (msg.event === 'snapshot') {
    next = snapshot(state, msg, now);
  } else if (msg.event.startsWith('node.')) {
    next = nodeEvent(state, msg, now);
  } else if (msg.event in OUTCOMES) {
    next = taskEvent(state, msg, now);
  } else if (msg.event.startsWith('pipeline.')) {
    next = pipelineEvent(state, msg, now);
  } else {
    return state;
  }
  if (next !== state && Number.isFinite(msg.ts)) {
    next = { ...next, lastEventTs: msg.ts };
  }
  return next;
}

// How a node looks: one word for its card, its map node and the tests.
// Ejected and down win over what the node itself reports.
export function nodeStatus(node) {
  if (!node) return 'unknown';
  if (node.ejected) return 'ejected';
  if (node.up === false) return 'down';
  if (node.status === 'draining' || node.status === 'degraded') {
    return node.status;
  }
  return node.active_tasks > 0 ? 'busy' : 'idle';
}

export function isLit(state, id, now = Date.now()) {
  const t = state.routes[id];
  return t !== undefined && now - t < ROUTE_LIT_MS;
}

// Every model of the mesh (name -> type), for the chat's model choice.
export function meshModels(state) {
  const out = new Map();
  for (const id of state.order) {
    for (const m of state.nodes[id]?.models || []) {
      if (m && typeof m.name === 'string' && !out.has(m.name)) {
        out.set(m.name, m.type);
      }
    }
  }
  return [...out].map(([name, type]) => ({ name, type }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

// Rows of the task log that pass the node and outcome filters ('' = any).
export function filterTasks(tasks, { node = '', outcome = '' } = {}) {
  return tasks.filter((t) => (!node || t.node_id === node)
                          && (!outcome || t.outcome === outcome));
}
