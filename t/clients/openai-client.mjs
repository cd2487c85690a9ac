// The official openai npm client pointed at the mesh (t/122): each
// scenario's outcome, or the APIError it raised, as one JSON object on
// stdout.
//
//   node t/clients/openai-client.mjs http://127.0.0.1:PORT

import OpenAI from 'openai';

const base = process.argv[2];
const client = new OpenAI({
  baseURL: `${base}/v1`,
  apiKey: 'not-checked-yet',
  maxRetries: 0,
  timeout: 120000,
});
const hello = [{ role: 'user', content: 'hello there mesh' }];
const out = {};

async function run(name, fn) {
  try {
    out[name] = { ok: true, value: await fn() };
  } catch (e) {
    out[name] = {
      ok: false, status: e.status ?? null, type: e.type ?? null,
      code: e.code ?? null, message: String(e.message ?? e),
      name: e.constructor?.name ?? null,
    };
  }
}

await run('chat', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'mistral:7b', messages: hello }).withResponse();
  return {
    id: data.id, object: data.object, model: data.model,
    content: data.choices[0].message.content,
    finish: data.choices[0].finish_reason, usage: data.usage,
    node: response.headers.get('x-mesh-node'),
  };
});

await run('stream', async () => {
  const stream = await client.chat.completions.create({
    model: 'mistral:7b', messages: hello, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let usage = null;
  let finish = null;
  const ids = new Set();
  for await (const c of stream) {
    chunks++;
    ids.add(c.id);
    if (c.choices.length) {
      text += c.choices[0].delta.content ?? '';
      finish = c.choices[0].finish_reason ?? finish;
    }
    if (c.usage) {
      usage = c.usage;
    }
  }
  return { text, chunks, usage, finish, ids: ids.size };
});

await run('completion', async () => {
  const r = await client.completions.create({
    model: 'mistral:7b', prompt: 'once upon a time',
  });
  return { object: r.object, model: r.model, text: r.choices[0].text,
           finish: r.choices[0].finish_reason, usage: r.usage };
});

// the client asks for base64 and decodes it to floats itself
await run('embedding', async () => {
  const r = await client.embeddings.create({
    model: 'nomic-embed-text', input: ['the sky', 'is blue'],
  });
  return { object: r.object, model: r.model, n: r.data.length,
           dims: r.data.map((d) => d.embedding.length),
           numbers: r.data.every((d) => d.embedding.every(Number.isFinite)),
           usage: r.usage };
});

await run('models', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    ids.push(m.id);
  }
  return { ids };
});

await run('model', async () => {
  const m = await client.models.retrieve('codellama:7b');
  return { id: m.id, object: m.object };
});

await run('unknown', async () => {
  await client.chat.completions.create({ model: 'gpt-4o', messages: hello });
  return 'answered';
});

await run('code', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'mesh:code', messages: [
      { role: 'user', content: 'write a binary search in C' }] })
    .withResponse();
  return { model: data.model, node: response.headers.get('x-mesh-node'),
           content: data.choices[0].message.content };
});

process.stdout.write(`${JSON.stringify(out)}\n`);
