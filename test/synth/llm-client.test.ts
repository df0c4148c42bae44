import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlmClient, LlmError, costOf, type ChatRequest } from '../../src/synth/llm-client.js';
import { ResponseCache } from '../../src/synth/response-cache.js';
import { startScriptedServer, type Action, type ScriptedRequest } from './helpers/scripted-llm-server.js';

const req = (text: string): ChatRequest => ({ messages: [{ role: 'user', content: text }], params: { temperature: 0 } });
const ok = (content = '{"ok":true}'): Action => ({ kind: 'answer', content });
const fast = { backoffBaseMs: 5, backoffMaxMs: 20, random: () => 1 };

/** Answers by the text of the user message: a list of actions for the 1st, 2nd, … time it is seen. */
function byText(plan: Record<string, Action[]>) {
  return (r: ScriptedRequest): Action => {
    const text = r.body.messages.at(-1)!.content;
    const steps = plan[text] ?? [ok()];
    return steps[Math.min(r.seen, steps.length) - 1]!;
  };
}

test('429 with Retry-After (seconds) is waited out and retried; other requests are held meanwhile', async () => {
  const server = await startScriptedServer(byText({
    a: [{ kind: 'status', status: 429, headers: { 'retry-after': '1' } }, ok('{"a":1}')],
  }));
  try {
    const client = new LlmClient({ baseUrl: server.url, model: 'm', ...fast });
    const t0 = Date.now();
    const pa = client.complete(req('a'));
    await new Promise((r) => setTimeout(r, 150));
    const b = await client.complete(req('b')); // started after the 429: must wait for the pause too
    const a = await pa;
    assert.equal(a.content, '{"a":1}');
    assert.equal(b.content, '{"ok":true}');
    assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms`);
    const first = server.log[0]!.at;
    const bAt = server.log.find((l) => l.seen === 1 && l !== server.log[0])!.at;
    assert.ok(bAt - first >= 900, `b was sent ${bAt - first} ms after the 429`);
    assert.equal(client.stats.retries.rate_limited, 1);
    assert.equal(client.stats.requests, 3);
  } finally {
    await server.close();
  }
});

test('retry-after-ms, 5xx, dropped connections, cut bodies, non-JSON bodies and hangs are retried', async () => {
  const server = await startScriptedServer(byText({
    ms: [{ kind: 'status', status: 503, headers: { 'retry-after-ms': '200' } }, ok()],
    s5xx: [{ kind: 'status', status: 500 }, { kind: 'status', status: 502 }, ok()],
    drop: [{ kind: 'drop' }, ok()],
    cut: [{ kind: 'cut', content: '{"x":1}' }, ok()],
    html: [{ kind: 'status', status: 200, body: '<html>gateway</html>' }, ok()],
    hang: [{ kind: 'hang' }, ok()],
  }));
  try {
    const client = new LlmClient({ baseUrl: server.url, model: 'm', timeoutMs: 1500, ...fast });
    const t0 = Date.now();
    await client.complete(req('ms'));
    assert.ok(Date.now() - t0 >= 190);
    for (const t of ['s5xx', 'drop', 'cut', 'html', 'hang']) assert.equal((await client.complete(req(t))).content, '{"ok":true}', t);
    assert.deepEqual(client.stats.retries, { rate_limited: 0, server_error: 3, timeout: 1, network: 2, invalid_response: 1 });
    assert.equal(client.stats.answers, 6);
    assert.equal(client.stats.failures, 0);
  } finally {
    await server.close();
  }
});

test('gives up after maxRetries; 400 is not retried; 401/404/insufficient_quota are fatal', async () => {
  const server = await startScriptedServer(byText({
    down: [{ kind: 'status', status: 503 }],
    bad: [{ kind: 'status', status: 400, body: '{"error":{"message":"context too long"}}' }],
    auth: [{ kind: 'status', status: 401, body: '{"error":{"message":"invalid api key"}}' }],
    nf: [{ kind: 'status', status: 404 }],
    quota: [{ kind: 'status', status: 429, body: '{"error":{"message":"quota","code":"insufficient_quota"}}' }],
  }));
  try {
    const client = new LlmClient({ baseUrl: server.url, model: 'm', maxRetries: 2, ...fast });
    await assert.rejects(client.complete(req('down')), (e: unknown) => e instanceof LlmError && e.retryable && /gave up after 3 tries/.test(e.message));
    assert.equal(server.log.filter((l) => l.inputKey === null).length, 3);
    await assert.rejects(client.complete(req('bad')), (e: unknown) => e instanceof LlmError && !e.retryable && !e.fatal && e.status === 400 && /context too long/.test(e.message));
    await assert.rejects(client.complete(req('auth')), (e: unknown) => e instanceof LlmError && e.fatal && /invalid api key/.test(e.message));
    await assert.rejects(client.complete(req('nf')), (e: unknown) => e instanceof LlmError && e.fatal && e.status === 404);
    await assert.rejects(client.complete(req('quota')), (e: unknown) => e instanceof LlmError && e.fatal);
    assert.equal(server.log.length, 3 + 4, 'non-retryable errors are sent once');
  } finally {
    await server.close();
  }
});

test('the concurrency limit holds at the server', async () => {
  const server = await startScriptedServer(() => ({ kind: 'answer', content: '{}', delayMs: 80 }));
  try {
    const client = new LlmClient({ baseUrl: server.url, model: 'm', concurrency: 3 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.complete(req(`q${i}`))));
    assert.equal(server.maxConcurrent, 3);
    assert.equal(server.log.length, 10);
  } finally {
    await server.close();
  }
});

test('requests per minute: a burst of bucket size, then the refill rate', async () => {
  const server = await startScriptedServer(() => ok());
  try {
    // 120/min: bucket of 20, refilled at 2 per second.
    const client = new LlmClient({ baseUrl: server.url, model: 'm', requestsPerMinute: 120, concurrency: 30 });
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 22 }, (_, i) => client.complete(req(`r${i}`))));
    const at = server.log.map((l) => l.at - t0).sort((a, b) => a - b);
    // Lower bounds only (a loaded machine can make anything slower, never faster).
    assert.ok(at[20]! >= 450, `21st request at ${at[20]} ms`);
    assert.ok(at[21]! >= 950, `22nd request at ${at[21]} ms`);
  } finally {
    await server.close();
  }
});

test('tokens per minute: the budget is charged by estimate and corrected by usage', async () => {
  const server = await startScriptedServer(() => ({ kind: 'answer', content: '{}', usage: { prompt_tokens: 10, completion_tokens: 10 } }));
  try {
    // 6000 tokens/min = 100/s, bucket of 1000. Each request is estimated at ~1000 tokens
    // (max_tokens 990 + prompt), so the second one waits for the correction to 20 used tokens.
    const client = new LlmClient({ baseUrl: server.url, model: 'm', tokensPerMinute: 6000 });
    const t0 = Date.now();
    const r = (t: string): ChatRequest => ({ ...req(t), params: { max_tokens: 990 } });
    await client.complete(r('t1'));
    await client.complete(r('t2'));
    // Without the refund the second request would wait ~10 s for the bucket to refill.
    assert.ok(Date.now() - t0 < 5000, `the usage correction refunded the estimate (took ${Date.now() - t0} ms)`);
  } finally {
    await server.close();
  }
});

test('cache: a repeated request is served from disk, also after reopening; identical requests in flight are sent once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-synth-cache-'));
  const server = await startScriptedServer(() => ({ kind: 'answer', content: '{"v":1}', delayMs: 50 }));
  try {
    const path = join(dir, 'cache.jsonl');
    let cache = await ResponseCache.open(path);
    let client = new LlmClient({ baseUrl: server.url, model: 'm', cache });
    const [x, y] = await Promise.all([client.complete(req('same')), client.complete(req('same'))]);
    assert.equal(server.log.length, 1);
    assert.deepEqual([x.cached, y.cached].sort(), [false, true]);
    const again = await client.complete(req('same'));
    assert.equal(again.cached, true);
    assert.deepEqual(again.usage, { promptTokens: 100, completionTokens: 40, estimated: false });
    await cache.close();

    cache = await ResponseCache.open(path);
    client = new LlmClient({ baseUrl: server.url, model: 'm', cache });
    assert.equal((await client.complete(req('same'))).content, '{"v":1}');
    assert.equal(server.log.length, 1, 'nothing re-sent after reopening');
    // Same messages with other params or another tag are different entries.
    await client.complete({ ...req('same'), params: { temperature: 1 } });
    await client.complete({ ...req('same'), tag: { attempt: 2 } });
    assert.equal(server.log.length, 3);
    assert.equal(client.stats.cachedAnswers, 1);
    // A second opener of the same cache is refused while the first holds it.
    await assert.rejects(ResponseCache.open(path), /in use by process/);
    await cache.close();
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage and cost accounting; missing usage is estimated and flagged', async () => {
  const server = await startScriptedServer((r) =>
    r.body.messages[0]!.content === 'nousage' ? { kind: 'answer', content: 'x'.repeat(40), usage: null } : ok(),
  );
  try {
    const pricing = { inputPerMillion: 1.5, outputPerMillion: 6 };
    const client = new LlmClient({ baseUrl: server.url, model: 'm' });
    await client.complete(req('one'));
    await client.complete(req('two'));
    assert.equal(client.stats.promptTokens, 200);
    assert.equal(client.stats.completionTokens, 80);
    assert.equal(costOf(client.stats.promptTokens, client.stats.completionTokens, pricing), (200 * 1.5 + 80 * 6) / 1e6);
    const est = await client.complete(req('nousage'));
    assert.equal(est.usage.estimated, true);
    assert.equal(est.usage.completionTokens, 10);
    assert.equal(client.stats.estimatedUsage, 1);
  } finally {
    await server.close();
  }
});
