import { nodeStatus } from '../feed/state.js';

function num(v, digits = 1) {
  return Number.isFinite(v) ? v.toFixed(digits) : '?';
}

export function ago(ms) {
  if (!Number.isFinite(ms)) return 'never';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function RamBar({ hw }) {
  const total = hw?.ram_total_gb;
  const free = hw?.ram_free_gb;
  const used = Number.isFinite(total) && Number.isFinite(free) && total > 0
    ? Math.min(100, Math.max(0, ((total - free) / total) * 100)) : 0;
  return (
    <div className="ram">
      <div className="bar" role="meter" aria-label="RAM in use"
           aria-valuemin={0} aria-valuemax={100}
           aria-valuenow={Math.round(used)}>
        <div className="bar-fill" style={{ width: `${used}%` }} />
      </div>
      <span>RAM {num(free)} GB free of {num(total)} GB</span>
    </div>
  );
}

function Card({ node, now }) {
  const status = nodeStatus(node);
  const hw = node.hardware || {};
  return (
    <article className={`card card-${status}`}
             data-testid={`node-card-${node.node_id}`} data-status={status}
             aria-label={`node ${node.node_id}`}>
      <header>
        <h3>{node.node_id}</h3>
        <span className={`badge badge-${status}`}
              data-testid="node-status">{status}</span>
      </header>
      <p className="addr">{node.host}:{node.port}
        {node.agent_version ? ` · agent ${node.agent_version}` : ''}</p>
      <ul className="models" aria-label="models">
        {(node.models || []).map((m) => (
          <li key={m.name} data-testid="model"
              className={m.loaded ? 'model loaded' : 'model'}>
            <span className="model-name">{m.name}</span>
            <span className="model-type">{m.type}</span>
            {m.loaded && <span className="model-loaded">loaded</span>}
          </li>
        ))}
      </ul>
      <RamBar hw={hw} />
      <dl className="facts">
        <dt>GPU</dt>
        <dd>{hw.has_gpu ? `yes, ${num(hw.gpu_vram_gb)} GB VRAM` : 'no'}</dd>
        <dt>tasks</dt>
        <dd data-testid="node-active">
          {node.active_tasks ?? 0} active / {node.max_tasks ?? '?'} max
        </dd>
        <dt>tokens/s</dt>
        <dd>{num(node.recent_tokens_per_sec ?? node.tokens_per_sec)}</dd>
        <dt>done / failed</dt>
        <dd data-testid="node-counts">
          {node.tasks_done ?? 0} / {node.tasks_failed ?? 0}
        </dd>
        <dt>last seen</dt>
        <dd>{ago(now - node.seen_at)}</dd>
      </dl>
    </article>
  );
}

export default function NodeCards({ state, now }) {
  if (state.order.length === 0) {
    return <p className="empty">No node has joined yet.</p>;
  }
  return (
    <div className="cards">
      {state.order.map((id) => (
        <Card key={id} node={state.nodes[id]} now={now} />
      ))}
    </div>
  );
}
