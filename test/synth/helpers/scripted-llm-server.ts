// A real OpenAI-compatible chat-completions server for tests: every request is answered by a
// script (answer / HTTP status / dropped connection / cut body / hang / delay), and every request is
// logged so tests can count what was sent, what was re-sent and what was answered.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface ScriptedRequest {
  body: { model: string; messages: { role: string; content: string }[]; [k: string]: unknown };
  /** sha256 of the raw body: identical requests (retries) share it. */
  hash: string;
  /** The item this request is about: the input JSON inside <input>/<example> tags, parsed. */
  input: Record<string, unknown> | null;
  /** How many times this exact body has been received, this one included. */
  seen: number;
  /** 1-based index of this body among the distinct bodies for the same input. */
  attempt: number;
}

export type Action =
  | { kind: 'answer'; content: string; finishReason?: string; usage?: { prompt_tokens: number; completion_tokens: number } | null; delayMs?: number }
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string>; delayMs?: number }
  /** Close the socket without any response. */
  | { kind: 'drop' }
  /** Send headers and half of a valid body, then close the socket. */
  | { kind: 'cut'; content: string }
  /** Never answer (the client must time out). */
  | { kind: 'hang' };

export interface LoggedRequest {
  hash: string;
  inputKey: string | null;
  attempt: number;
  seen: number;
  action: Action['kind'];
  /** The response was completely written. */
  answered: boolean;
  at: number;
  /** The last user message. */
  user: string;
}

export interface ScriptedServer {
  url: string;
  log: LoggedRequest[];
  /** Highest number of requests being handled at the same time. */
  maxConcurrent: number;
  close(): Promise<void>;
}

export const USAGE = { prompt_tokens: 100, completion_tokens: 40 };

export function completion(content: string, finishReason = 'stop', usage: { prompt_tokens: number; completion_tokens: number } | null = USAGE): string {
  return JSON.stringify({
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: 0,
    model: 'scripted-model',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finishReason }],
    ...(usage ? { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } } : {}),
  });
}

/** The JSON block between <input>…</input> (or <example>…</example>) of the last user message. */
export function inputOf(body: ScriptedRequest['body']): Record<string, unknown> | null {
  const user = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const m = /<(input|example)>\s*([\s\S]*?)\s*<\/\1>/.exec(user);
  if (!m) return null;
  try {
    return JSON.parse(m[2]!) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export function inputKeyOf(input: Record<string, unknown> | null): string | null {
  if (!input) return null;
  return String(input.query ?? input.text1 ?? input.text ?? JSON.stringify(input));
}

export async function startScriptedServer(script: (req: ScriptedRequest) => Action): Promise<ScriptedServer> {
  const seenBodies = new Map<string, number>();
  const attemptsByInput = new Map<string, string[]>();
  const log: LoggedRequest[] = [];
  let active = 0;
  const state = { maxConcurrent: 0 };
  const sockets = new Set<import('node:net').Socket>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      active++;
      state.maxConcurrent = Math.max(state.maxConcurrent, active);
      const raw = Buffer.concat(chunks).toString('utf8');
      const hash = createHash('sha256').update(raw).digest('hex');
      let body: ScriptedRequest['body'];
      try {
        body = JSON.parse(raw) as ScriptedRequest['body'];
      } catch {
        res.writeHead(400).end('{"error":{"message":"bad json"}}');
        active--;
        return;
      }
      const input = inputOf(body);
      const inputKey = inputKeyOf(input);
      const seen = (seenBodies.get(hash) ?? 0) + 1;
      seenBodies.set(hash, seen);
      let attempt = 1;
      if (inputKey !== null) {
        const list = attemptsByInput.get(inputKey) ?? [];
        if (!list.includes(hash)) list.push(hash);
        attemptsByInput.set(inputKey, list);
        attempt = list.indexOf(hash) + 1;
      }
      const action = script({ body, hash, input, seen, attempt });
      const user = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
      const entry: LoggedRequest = { hash, inputKey, attempt, seen, action: action.kind, answered: false, at: Date.now(), user };
      log.push(entry);
      const finish = () => {
        active--;
      };
      const delay = 'delayMs' in action && action.delayMs ? action.delayMs : 0;
      setTimeout(() => {
        if (res.destroyed || req.socket.destroyed) return finish();
        switch (action.kind) {
          case 'answer': {
            const text = completion(action.content, action.finishReason ?? 'stop', action.usage === undefined ? USAGE : action.usage);
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(text, () => {
              entry.answered = true;
              finish();
            });
            return;
          }
          case 'status':
            res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers });
            res.end(action.body ?? JSON.stringify({ error: { message: `scripted ${action.status}`, type: 'scripted' } }), () => {
              entry.answered = true;
              finish();
            });
            return;
          case 'drop':
            req.socket.destroy();
            return finish();
          case 'cut': {
            const text = completion(action.content);
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
            res.write(text.slice(0, Math.floor(text.length / 2)), () => {
              req.socket.destroy();
              finish();
            });
            return;
          }
          case 'hang':
            req.socket.once('close', finish);
            return;
        }
      }, delay);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    log,
    get maxConcurrent() {
      return state.maxConcurrent;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A JSON answer with the given list. */
export function listAnswer(key: string, items: unknown[]): Action {
  return { kind: 'answer', content: JSON.stringify({ [key]: items }) };
}

/** Word-order reversal: keeps the language and the length, changes far more than 30 %. */
export function reverseWords(text: string): string {
  return text.split(/\s+/).filter(Boolean).reverse().join(' ');
}

/** Moves the first half of the words to the end: a second, different rewrite of the same length. */
export function rotateWords(text: string): string {
  const w = text.split(/\s+/).filter(Boolean);
  const h = Math.ceil(w.length / 2);
  return [...w.slice(h), ...w.slice(0, h)].join(' ');
}
