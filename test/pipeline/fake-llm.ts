// A small OpenAI-compatible chat-completions endpoint for the pipeline tests. It answers paraphrase
// requests with one rewrite that meets the recipe's constraints (the words in reverse order: same
// length and language, very different characters) and one copy of the original (rejected as too
// similar), so a run produces both outputs and rejection counts.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeLlm {
  url: string;
  requests: number;
  close(): Promise<void>;
}

function inputOf(prompt: string): Record<string, unknown> {
  const m = /<input>\s*([\s\S]*?)\s*<\/input>/.exec(prompt);
  if (!m) throw new Error('no <input> in the prompt');
  return JSON.parse(m[1]!) as Record<string, unknown>;
}

export async function startFakeLlm(): Promise<FakeLlm> {
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      state.requests++;
      try {
        if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
          return;
        }
        const { messages, model } = JSON.parse(body) as { messages: { role: string; content: string }[]; model: string };
        const input = inputOf(messages.at(-1)!.content);
        const text = String(input.text ?? input.query ?? input.text1 ?? '');
        const reversed = text.replace(/[?.!]+$/, '').split(/\s+/).reverse().join(' ');
        const content = JSON.stringify({ paraphrases: [{ text: reversed }, { text }] });
        const answer = {
          id: 'chatcmpl-fake', object: 'chat.completion', created: 0, model,
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 },
        };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      } catch (e) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: (e as Error).message } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
