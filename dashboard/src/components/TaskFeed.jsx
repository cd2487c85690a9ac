import { useState } from 'react';
import { filterTasks } from '../feed/state.js';

const OUTCOMES = ['queued', 'routed', 'streaming', 'retried', 'done',
                  'failed', 'expired', 'cancelled'];
const BAD = new Set(['failed', 'expired', 'cancelled']);

function time(ts) {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString();
}

export default function TaskFeed({ state }) {
  const [node, setNode] = useState('');
  const [outcome, setOutcome] = useState('');
  const rows = filterTasks(state.tasks, { node, outcome });
  const nodeIds = [...new Set([...state.order,
    ...state.tasks.map((t) => t.node_id).filter(Boolean)])].sort();

  return (
    <div className="taskfeed">
      <div className="filters">
        <label>Node{' '}
          <select value={node} onChange={(e) => setNode(e.target.value)}
                  data-testid="filter-node">
            <option value="">any</option>
            {nodeIds.map((id) => <option key={id} value={id}>{id}</option>)}
          </select>
        </label>
        <label>Outcome{' '}
          <select value={outcome} onChange={(e) => setOutcome(e.target.value)}
                  data-testid="filter-outcome">
            <option value="">any</option>
            {OUTCOMES.map((o) => <option key={o} value={o}>{o}</option>)}
          </select>
        </label>
        <span className="count">{rows.length} of {state.tasks.length}</span>
      </div>
      <div className="table-wrap" tabIndex={0} aria-label="task log">
        <table>
          <thead>
            <tr>
              <th scope="col">time</th><th scope="col">task</th>
              <th scope="col">type</th><th scope="col">model</th>
              <th scope="col">node</th><th scope="col">outcome</th>
              <th scope="col">duration</th><th scope="col">tokens/s</th>
            </tr>
          </thead>
          <tbody data-testid="task-rows">
            {rows.map((t) => (
              <tr key={t.id} data-testid="task-row" data-task={t.id}
                  data-outcome={t.outcome}
                  className={BAD.has(t.outcome) ? 'row-bad' : ''}>
                <td>{time(t.ts)}</td>
                <td className="mono" title={t.id}>
                  {t.kind === 'pipeline' ? t.id.slice(9) : t.id}
                  {t.pipeline !== undefined
                    && <span className="tag">{t.pipeline} step {t.step}</span>}
                </td>
                <td>{t.type ?? ''}</td>
                <td>{t.model ?? ''}</td>
                <td>{t.node_id ?? ''}</td>
                <td className={`outcome outcome-${t.outcome}`}
                    title={t.trail.join(' → ')}>
                  {t.outcome}{t.reason ? ` (${t.reason})` : ''}
                </td>
                <td>{Number.isFinite(t.duration_ms)
                  ? `${(t.duration_ms / 1000).toFixed(2)} s` : ''}</td>
                <td>{Number.isFinite(t.tokens_per_sec)
                  ? t.tokens_per_sec.toFixed(1) : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <p className="empty">No task yet.</p>}
      </div>
    </div>
  );
}
