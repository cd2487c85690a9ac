import { describe, expect, it } from 'vitest';
import { LineSplitter, applyLine, endAnswer, httpError,
         newAnswer } from '../src/chat/ndjson.js';
import { sendChat, taskRequest } from '../src/chat/send.js';

const enc = new TextEncoder();

describe('LineSplitter', () => {
  it('joins lines split across chunks, even inside a UTF-8 character',
     () => {
    const s = new LineSplitter();
    const bytes = enc.encode('{"response":"héllo"}\n{"a":1}\n{"b"');
    // byte 15 is the second byte of the é; byte 21 the first newline
    expect(s.push(bytes.slice(0, 15))).toEqual([]);
    expect(s.push(bytes.slice(15, 24))).toEqual(['{"response":"héllo"}']);
    expect(s.push(bytes.slice(24))).toEqual(['{"a":1}']);
    expect(s.push(enc.encode(':2}\n\n'))).toEqual(['{"b":2}']);
    expect(s.end()).toEqual([]);
  });

  it('gives the last line without a newline at the end', () => {
    const s = new LineSplitter();
    s.push('{"x":1}');
    expect(s.end()).toEqual(['{"x":1}']);
  });

  it('refuses a line over its limit', () => {
    const s = new LineSplitter(10);
    expect(() => s.push('x'.repeat(11))).toThrow(/longer than 10/);
  });
});

const lines = (a, ls) => ls.reduce(applyLine, a);

describe('a task answer', () => {
  it('routed, tokens, done', () => {
    const a = lines(newAnswer({ prompt: 'hi', type: 'text' }), [
      { event: 'routed', task_id: 't1', node: 'node-code',
        model: 'codellama:7b' },
      { response: '[codellama:7b]', done: false },
      { response: ' hi', done: false },
      { response: '', done: true, done_reason: 'stop', eval_count: 2,
        eval_duration: 100000000 },
    ]);
    expect(a).toMatchObject({ status: 'done', node: 'node-code',
                              model: 'codellama:7b', task_id: 't1',
                              text: '[codellama:7b] hi', tokens: 2,
                              done_reason: 'stop' });
    expect(a.tokens_per_sec).toBeCloseTo(20);
  });

  it('streaming until the done line', () => {
    const a = lines(newAnswer({ prompt: 'hi' }), [
      { event: 'routed', node: 'a' }, { response: 'x', done: false }]);
    expect(a.status).toBe('streaming');
    expect(endAnswer(a)).toMatchObject({
      status: 'error', text: 'x',
      error: expect.stringMatching(/before its last line/) });
  });

  it('a mid-stream error line is shown plainly', () => {
    const a = lines(newAnswer({ prompt: 'hi' }), [
      { event: 'routed', node: 'a' }, { response: 'par', done: false },
      { error: 'mesh: node "a" failed mid-stream', node: 'a' }]);
    expect(a.status).toBe('error');
    expect(a.error).toContain('mesh: node "a" failed mid-stream');
    expect(a.text).toBe('par');
    expect(endAnswer(a)).toBe(a);
  });

  it('503 with the estimated wait', () => {
    const a = httpError(newAnswer({ prompt: 'hi' }), 503,
      '{"error":"no node free","reason":"queue_timeout",'
      + '"estimated_wait_s":12}', '12');
    expect(a.status).toBe('error');
    expect(a.error).toBe('HTTP 503: no node free (estimated wait 12 s) '
                         + '[queue_timeout]');
  });

  it('503 with only Retry-After, and a body that is not JSON', () => {
    expect(httpError(newAnswer({}), 503, 'busy', '7').error)
      .toBe('HTTP 503: busy (estimated wait 7 s)');
    expect(httpError(newAnswer({}), 404, '{"error":"model \\"x\\" not found"}')
      .error).toBe('HTTP 404: model "x" not found');
  });
});

describe('a pipeline answer (issue 9 format)', () => {
  it('each step with its node and output, then the last step streams', () => {
    const a = lines(newAnswer({ prompt: 'img', pipeline: 'd-and-s' }), [
      { event: 'step', index: 1, node: 'A', model: 'llava:7b' },
      { event: 'step_done', index: 1, output: 'a cat', tokens: 2,
        duration_ms: 50 },
      { event: 'step', index: 2, node: 'B', model: 'mistral:7b' },
      { response: 'one', done: false },
      { response: ' cat', done: false },
      { response: '', done: true, eval_count: 2 },
    ]);
    expect(a.status).toBe('streaming');    // until pipeline_done
    expect(a.steps.map((s) => [s.index, s.node, s.output])).toEqual([
      [1, 'A', 'a cat'], [2, 'B', 'one cat']]);
    const done = applyLine(a, { event: 'pipeline_done', steps: [
      { node: 'A', model: 'llava:7b', tokens: 2, duration_ms: 50 },
      { node: 'B', model: 'mistral:7b', tokens: 2, duration_ms: 40 }] });
    expect(done.status).toBe('done');
    expect(done.steps[1]).toMatchObject({ node: 'B', tokens: 2,
                                          running: false });
  });

  it('a failed step names its index, node and reason', () => {
    const a = lines(newAnswer({ prompt: 'x', pipeline: 'p' }), [
      { event: 'step', index: 1, node: 'A' },
      { error: 'step failed', step: 1, node: 'A', reason: 'node_failed' }]);
    expect(a.error).toBe('step failed · step 1 · node A · reason node_failed');
  });
});

// A fetch that replies with these chunks, one read each.
function fakeFetch(status, chunks, headers = {}) {
  return async (url, init) => {
    fakeFetch.last = { url, init };
    let i = 0;
    return {
      status,
      headers: { get: (k) => headers[k] ?? null },
      text: async () => chunks.join(''),
      body: {
        getReader: () => ({
          read: async () => (i < chunks.length
            ? { value: enc.encode(chunks[i++]), done: false }
            : { value: undefined, done: true }),
          cancel: async () => {},
        }),
      },
    };
  };
}

describe('sendChat', () => {
  it('builds the native task body and the pipeline URL', () => {
    expect(taskRequest({ type: 'code', model: '', prompt: 'p' })).toEqual({
      url: '/mesh/v1/tasks', body: { prompt: 'p', stream: true,
                                     type: 'code' } });
    expect(taskRequest({ pipeline: 'a b', prompt: 'p', images: ['QQ=='] }))
      .toEqual({ url: '/mesh/v1/pipelines/a%20b',
                 body: { prompt: 'p', stream: true, images: ['QQ=='] } });
  });

  it('updates the answer once per chunk as tokens arrive', async () => {
    const seen = [];
    const a = await sendChat({ type: 'text', prompt: 'hi' },
      (x) => seen.push(x.text), {
        fetchImpl: fakeFetch(200, [
          '{"event":"routed","node":"n1","model":"m"}\n{"respo',
          'nse":"a","done":false}\n',
          '{"response":"b","done":false}\n',
          '{"response":"","done":true,"eval_count":2}\n']) });
    expect(a).toMatchObject({ status: 'done', node: 'n1', text: 'ab' });
    expect(seen).toEqual(['', '', 'a', 'ab', 'ab', 'ab']);
    expect(JSON.parse(fakeFetch.last.init.body)).toEqual(
      { prompt: 'hi', stream: true, type: 'text' });
  });

  it('a reply cut off without its done line is an error', async () => {
    const a = await sendChat({ type: 'text', prompt: 'hi' }, () => {}, {
      fetchImpl: fakeFetch(200, ['{"event":"routed","node":"n1"}\n',
                                 '{"response":"a","done":false}\n']) });
    expect(a.status).toBe('error');
    expect(a.error).toMatch(/before its last line/);
  });

  it('a line that is not JSON stops the answer', async () => {
    const a = await sendChat({ type: 'text', prompt: 'hi' }, () => {}, {
      fetchImpl: fakeFetch(200, ['<html>\n']) });
    expect(a.error).toMatch(/not JSON: <html>/);
  });

  it('503 shows the wait', async () => {
    const a = await sendChat({ type: 'text', prompt: 'hi' }, () => {}, {
      fetchImpl: fakeFetch(503, ['{"error":"queue full","estimated_wait_s":3,'
                                 + '"reason":"queue_full"}'],
                           { 'Retry-After': '3' }) });
    expect(a.error).toBe('HTTP 503: queue full (estimated wait 3 s) '
                         + '[queue_full]');
  });
});
