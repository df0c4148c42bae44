// A light HTTP/1.1 load generator for the serve benches: one raw keep-alive TCP connection per client,
// requests written as prebuilt bytes, responses framed by Content-Length and only their status read.
// On a 2-core machine the clients share the CPU with the server, so every microsecond the load
// generator spends per request is taken from the server under test; node:http costs several times more
// per request than this (measured by bench/serve-load.ts, which prints both clients' CPU per request).
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  /** Only when the caller asked for bodies. */
  body?: string;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** One keep-alive connection; requests are sent one at a time (a closed-loop client). */
export class RawHttpConnection {
  private readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting?: { resolve: (r: RawResponse) => void; reject: (e: Error) => void; keepBody: boolean };
  private failure?: Error;

  private constructor(socket: Socket, private readonly hostHeader: string) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('the server closed the connection')));
  }

  static open(url: string): Promise<RawHttpConnection> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const s = connect({ host: u.hostname, port: Number(u.port) }, () => {
        s.off('error', reject);
        resolve(new RawHttpConnection(s, u.host));
      });
      s.once('error', reject);
    });
  }

  /** Prebuilds the bytes of a JSON POST, so that a request costs one socket write. */
  post(path: string, json: string): Buffer {
    const body = Buffer.from(json);
    const head = `POST ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head), body]);
  }

  send(request: Buffer, keepBody = false): Promise<RawResponse> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting) return Promise.reject(new Error('one request at a time per connection'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject, keepBody };
      this.socket.write(request);
    });
  }

  close(): void {
    this.failure ??= new Error('closed');
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const w = this.waiting;
    if (!w) return;
    const headEnd = this.buf.indexOf(CRLFCRLF);
    if (headEnd < 0) return;
    const head = this.buf.toString('latin1', 0, headEnd);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!m) return this.fail(new Error(`response without Content-Length: ${head.slice(0, 200)}`));
    const end = headEnd + 4 + Number(m[1]);
    if (this.buf.length < end) return;
    const status = Number(head.slice(9, 12));
    const body = w.keepBody ? this.buf.toString('utf8', headEnd + 4, end) : undefined;
    this.buf = this.buf.subarray(end);
    this.waiting = undefined;
    w.resolve({ status, body });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(e);
  }
}
