import { useRef, useState } from 'react';
import { meshModels } from '../feed/state.js';
import { MAX_IMAGE, sendChat } from '../chat/send.js';

const TYPES = ['text', 'code', 'vision', 'summarize'];

// The base64 of a file, without the data: prefix (what Ollama takes).
function readBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

function pipelineName(p) {
  return typeof p === 'string' ? p : p?.name;
}

// What the feed says of the answer's task (task.failed and its reason),
// for a reply that broke off before its own error line could be read.
function FeedOutcome({ row }) {
  if (!row) return null;
  return (
    <p className="meta" data-testid="answer-feed-outcome">
      the mesh reports this task {row.outcome}
      {row.reason ? ` (${row.reason})` : ''}
      {row.node_id ? ` on ${row.node_id}` : ''}
    </p>
  );
}

function Answer({ a, row }) {
  return (
    <article className={`answer answer-${a.status}`} data-testid="answer"
             data-status={a.status} data-task={a.task_id ?? ''}
             aria-live="polite">
      <p className="question">{a.prompt}</p>
      <p className="meta">
        {a.pipeline ? `pipeline ${a.pipeline}` : (a.requested_model || a.type)}
        {a.node && <> · served by <strong data-testid="answer-node">
          {a.node}</strong></>}
        {a.model && <> · {a.model}</>}
        {a.tokens !== null && <> · {a.tokens} tokens</>}
        {a.tokens_per_sec !== null && <> · {a.tokens_per_sec.toFixed(1)} tok/s</>}
        {a.status === 'sending' && ' · waiting for a node…'}
        {a.status === 'streaming' && ' · streaming…'}
      </p>
      {a.steps.length > 0 && (
        <ol className="steps" data-testid="answer-steps">
          {a.steps.map((s) => (
            <li key={s.index} data-testid="answer-step"
                data-node={s.node ?? ''}>
              <span className="step-head">
                step {s.index}: <strong>{s.node ?? '?'}</strong>
                {s.model ? ` · ${s.model}` : ''}
                {s.running ? ' · running' : ''}
              </span>
              {s.output && <pre className="step-output">{s.output}</pre>}
            </li>
          ))}
        </ol>
      )}
      {!a.pipeline && <pre className="answer-text"
                           data-testid="answer-text">{a.text}</pre>}
      {a.error && <p className="error" role="alert"
                     data-testid="answer-error">{a.error}</p>}
      {a.status === 'error' && <FeedOutcome row={row} />}
    </article>
  );
}

export default function Chat({ state }) {
  const [mode, setMode] = useState('type');
  const [type, setType] = useState('text');
  const [model, setModel] = useState('');
  const [pipeline, setPipeline] = useState('');
  const [prompt, setPrompt] = useState('');
  const [image, setImage] = useState(null);
  const [imageError, setImageError] = useState('');
  const [answers, setAnswers] = useState([]);
  const [busy, setBusy] = useState(false);
  const fileRef = useRef(null);

  const models = meshModels(state);
  const pipelines = state.pipelines.map(pipelineName).filter(Boolean);

  async function onFile(e) {
    const f = e.target.files?.[0];
    setImageError('');
    setImage(null);
    if (!f) return;
    if (f.size > MAX_IMAGE) {
      setImageError(`${f.name} is over ${MAX_IMAGE / 1048576} MiB`);
      e.target.value = '';
      return;
    }
    try {
      setImage({ name: f.name, data: await readBase64(f) });
    } catch (err) {
      setImageError(`cannot read ${f.name}: ${err}`);
    }
  }

  async function submit(e) {
    e?.preventDefault();
    if (busy || prompt.trim() === '') return;
    if (mode === 'pipeline' && !pipeline) return;
    const req = mode === 'pipeline'
      ? { pipeline, prompt, images: image ? [image.data] : [] }
      : { type, model, prompt, images: image ? [image.data] : [] };
    setBusy(true);
    setPrompt('');
    const slot = answers.length;
    await sendChat(req, (a) => setAnswers((list) => {
      const next = list.slice();
      next[slot] = a;
      return next;
    }));
    setBusy(false);
  }

  function onKey(e) {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      submit();
    }
  }

  return (
    <div className="chat">
      <form onSubmit={submit} className="chat-form" aria-label="send a task">
        <div className="chat-row">
          <label>Send to{' '}
            <select value={mode} onChange={(e) => setMode(e.target.value)}
                    data-testid="chat-mode">
              <option value="type">a task type / model</option>
              <option value="pipeline">a named pipeline</option>
            </select>
          </label>
          {mode === 'type' ? (
            <>
              <label>Type{' '}
                <select value={type} onChange={(e) => setType(e.target.value)}
                        data-testid="chat-type">
                  {TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
                </select>
              </label>
              <label>Model{' '}
                <select value={model} onChange={(e) => setModel(e.target.value)}
                        data-testid="chat-model">
                  <option value="">any (routed by type)</option>
                  {models.map((m) => (
                    <option key={m.name} value={m.name}>
                      {m.name} ({m.type})
                    </option>
                  ))}
                </select>
              </label>
            </>
          ) : (
            <label>Pipeline{' '}
              <select value={pipeline}
                      onChange={(e) => setPipeline(e.target.value)}
                      data-testid="chat-pipeline">
                <option value="">
                  {pipelines.length ? 'choose…' : 'none configured'}
                </option>
                {pipelines.map((p) => <option key={p} value={p}>{p}</option>)}
              </select>
            </label>
          )}
        </div>
        <label className="prompt-label" htmlFor="chat-prompt">Prompt</label>
        <textarea id="chat-prompt" value={prompt} rows={3}
                  onChange={(e) => setPrompt(e.target.value)} onKeyDown={onKey}
                  placeholder="Ask the mesh… (Enter sends, Shift+Enter: new line)"
                  data-testid="chat-prompt" />
        <div className="chat-row">
          <label className="file">Image (for vision){' '}
            <input type="file" accept="image/*" ref={fileRef}
                   onChange={onFile} data-testid="chat-image" />
          </label>
          {image && (
            <button type="button" onClick={() => {
              setImage(null);
              if (fileRef.current) fileRef.current.value = '';
            }}>remove {image.name}</button>
          )}
          <button type="submit" disabled={busy || prompt.trim() === ''}
                  data-testid="chat-send">
            {busy ? 'Streaming…' : 'Send'}
          </button>
        </div>
        {imageError && <p className="error" role="alert">{imageError}</p>}
      </form>
      <div className="answers" data-testid="answers">
        {answers.slice().reverse().map((a, i) => (
          <Answer key={answers.length - i} a={a}
                  row={a.task_id
                    ? state.tasks.find((t) => t.id === a.task_id) : null} />
        ))}
      </div>
    </div>
  );
}
