// NDJSON replies of POST /mesh/v1/tasks and /mesh/v1/pipelines/<name>,
// read as they arrive, and what the chat shows of them.

// A line longer than this ends the answer with an error instead of
// growing without bound.
export const MAX_LINE = 4 * 1024 * 1024;

// Splits a byte stream into lines.  push(chunk) takes a Uint8Array (or a
// string) and returns the complete lines it finished; end() returns the
// last line when the stream ends without a newline.
export class LineSplitter {
  constructor(maxLine = MAX_LINE) {
    this.maxLine = maxLine;
    this.decoder = new TextDecoder();
    this.rest = '';
  }

  push(chunk) {
    const text = typeof chunk === 'string'
      ? chunk : this.decoder.decode(chunk, { stream: true });
    const parts = (this.rest + text).split('\n');
    this.rest = parts.pop();
    if (this.rest.length > this.maxLine) {
      throw new Error(`a reply line is longer than ${this.maxLine} bytes`);
    }
    return parts.filter((l) => l.trim() !== '');
  }

  end() {
    const last = this.rest + this.decoder.decode();
    this.rest = '';
    return last.trim() === '' ? [] : [last];
  }
}

// One answer of the chat.  status: 'sending' (no reply yet), 'streaming',
// 'done' or 'error'.
export function newAnswer({ prompt, pipeline = null, type = null,
                            model = null } = {}) {
  return {
    prompt, pipeline, type, requested_model: model,
    status: 'sending', node: null, model: null, task_id: null,
    text: '', tokens: null, tokens_per_sec: null, done_reason: null,
    error: null, steps: [], lines: 0,
  };
}

function errorText(obj) {
  const parts = [String(obj.error)];
  if (obj.step !== undefined || obj.index !== undefined) {
    parts.push(`step ${obj.step ?? obj.index}`);
  }
  if (obj.node) parts.push(`node ${obj.node}`);
  if (obj.reason) parts.push(`reason ${obj.reason}`);
  return parts.join(' · ');
}

function putStep(steps, index, fields) {
  const i = steps.findIndex((s) => s.index === index);
  const out = steps.slice();
  if (i >= 0) {
    out[i] = { ...out[i], ...fields };
  } else {
    out.push({ index, node: null, model: null, output: '', ...fields });
    out.sort((a, b) => a.index - b.index);
  }
  return out;
}

// Applies one decoded reply line.
export function applyLine(a, obj) {
  if (!obj || typeof obj !== 'object') return a;
  const next = { ...a, lines: a.lines + 1 };

  if (obj.error !== undefined) {
    return { ...next, status: 'error', error: errorText(obj) };
  }

  switch (obj.event) {
  case 'routed':
    return { ...next, status: 'streaming', node: obj.node ?? null,
             model: obj.model ?? null, task_id: obj.task_id ?? null };
  case 'step':
    return { ...next, status: 'streaming', node: obj.node ?? next.node,
             model: obj.model ?? next.model,
             steps: putStep(next.steps, obj.index,
                            { node: obj.node ?? null,
                              model: obj.model ?? null,
                              running: true }) };
  case 'step_done':
    return { ...next,
             steps: putStep(next.steps, obj.index,
                            { output: obj.output ?? '', tokens: obj.tokens,
                              duration_ms: obj.duration_ms,
                              running: false }) };
  case 'pipeline_done': {
    let steps = next.steps;
    (Array.isArray(obj.steps) ? obj.steps : []).forEach((s, i) => {
      const index = s.index ?? steps[i]?.index ?? i;
      steps = putStep(steps, index, {
        node: s.node ?? steps[i]?.node ?? null,
        model: s.model ?? steps[i]?.model ?? null,
        tokens: s.tokens, duration_ms: s.duration_ms, running: false,
      });
    });
    return { ...next, steps, status: 'done' };
  }
  default:
    break;
  }

  if (typeof obj.response === 'string') {
    const text = next.text + obj.response;
    let steps = next.steps;
    if (a.pipeline && steps.length) {
      const last = steps[steps.length - 1];
      steps = putStep(steps, last.index, { output: text });
    }
    const upd = { ...next, status: 'streaming', text, steps };
    if (obj.done === true) {
      upd.done_reason = obj.done_reason ?? null;
      upd.tokens = obj.eval_count ?? null;
      if (obj.eval_count && obj.eval_duration) {
        upd.tokens_per_sec = obj.eval_count / (obj.eval_duration / 1e9);
      }
      if (a.pipeline) {
        upd.steps = steps.map((s) => ({ ...s, running: false }));
      } else {
        upd.status = 'done';
      }
    }
    return upd;
  }
  return next;
}

// The reply ended.  An answer still streaming then was cut short: say so,
// never show it as complete.
export function endAnswer(a) {
  if (a.status === 'done' || a.status === 'error') return a;
  if (a.pipeline && a.tokens !== null) {
    return { ...a, status: 'done' };
  }
  return { ...a, status: 'error',
           error: a.status === 'sending'
             ? 'the reply ended before anything arrived'
             : 'the reply ended before its last line (incomplete answer)' };
}

// A reply that is not 200: the mesh's JSON error, 503 with its wait.
export function httpError(a, status, bodyText, retryAfter) {
  let obj = null;
  try {
    obj = JSON.parse(bodyText);
  } catch {
    obj = null;
  }
  let msg = obj && obj.error !== undefined
    ? (typeof obj.error === 'string' ? obj.error : JSON.stringify(obj.error))
    : (bodyText.trim().slice(0, 500) || 'no body');
  const wait = obj && Number.isFinite(obj.estimated_wait_s)
    ? obj.estimated_wait_s : (retryAfter ? Number(retryAfter) : null);
  if (status === 503 && wait !== null && !Number.isNaN(wait)) {
    msg += ` (estimated wait ${wait} s)`;
  }
  if (obj && obj.reason) msg += ` [${obj.reason}]`;
  return { ...a, status: 'error', http_status: status,
           error: `HTTP ${status}: ${msg}` };
}
