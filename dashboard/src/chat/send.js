// Sends one chat message to the mesh and streams the reply into an answer.

import { LineSplitter, applyLine, endAnswer, httpError,
         newAnswer } from './ndjson.js';

// The module's limit for a task body is 64 MiB; stay well under it.
export const MAX_PROMPT = 1024 * 1024;
export const MAX_IMAGE = 16 * 1024 * 1024;

export function taskRequest({ pipeline, type, model, prompt, images }) {
  const body = { prompt, stream: true };
  if (images && images.length) body.images = images;
  if (pipeline) {
    return { url: `/mesh/v1/pipelines/${encodeURIComponent(pipeline)}`,
             body };
  }
  body.type = type;
  if (model) body.model = model;
  return { url: '/mesh/v1/tasks', body };
}

// onUpdate(answer) after every line; resolves with the last answer.
export async function sendChat(req, onUpdate, { fetchImpl = fetch,
                                                signal } = {}) {
  let a = newAnswer({ prompt: req.prompt, pipeline: req.pipeline || null,
                      type: req.pipeline ? null : req.type,
                      model: req.model || null });
  onUpdate(a);

  if (req.prompt.length > MAX_PROMPT) {
    a = { ...a, status: 'error',
          error: `the prompt is longer than ${MAX_PROMPT} characters` };
    onUpdate(a);
    return a;
  }

  const { url, body } = taskRequest(req);
  let res;
  try {
    res = await fetchImpl(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json',
                 Accept: 'application/x-ndjson' },
      body: JSON.stringify(body),
      signal,
    });
  } catch (e) {
    a = { ...a, status: 'error', error: `no reply from the mesh: ${e.message}` };
    onUpdate(a);
    return a;
  }

  if (res.status !== 200) {
    const text = await res.text().catch(() => '');
    a = httpError(a, res.status, text, res.headers.get('Retry-After'));
    onUpdate(a);
    return a;
  }

  const split = new LineSplitter();
  const reader = res.body.getReader();
  const take = (lines) => {
    for (const line of lines) {
      let obj;
      try {
        obj = JSON.parse(line);
      } catch {
        a = { ...a, status: 'error',
              error: `a reply line is not JSON: ${line.slice(0, 200)}` };
        return false;
      }
      a = applyLine(a, obj);
      if (a.status === 'error') return false;
    }
    return true;
  };

  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const ok = take(split.push(value));
      onUpdate(a);
      if (!ok) {
        reader.cancel().catch(() => {});
        return a;
      }
    }
    take(split.end());
  } catch (e) {
    if (a.status !== 'error') {
      a = { ...a, status: 'error',
            error: `the reply broke off: ${e.message}` };
    }
  }
  a = endAnswer(a);
  onUpdate(a);
  return a;
}
