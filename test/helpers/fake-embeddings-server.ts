import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EmbeddingsRequest {
  at: number;
  input: string[];
  authorization: string | undefined;
  /** True once the client gave up on this request (timeout). */
  aborted: boolean;
}

/** What to do with a request: answer with a status (and body), answer normally (after `delayMs`), or never answer. */
export type Behaviour =
  | { kind: 'ok'; delayMs?: number }
  | { kind: 'status'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'hang' };

/**
 * An OpenAI-compatible /v1/embeddings server on 127.0.0.1. `decide` picks each request's fate;
 * vectors are a deterministic function of the text so results are stable.
 */
export async function startFakeEmbeddingsServer(
  dimensions: number,
  decide: (request: EmbeddingsRequest, index: number) => Behaviour = () => ({ kind: 'ok' }),
) {
  const requests: EmbeddingsRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw) as { input: string[]; model: string };
    const record: EmbeddingsRequest = {
      at: Date.now(),
      input: body.input,
      authorization: req.headers.authorization,
      aborted: false,
    };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    const behaviour = decide(record, requests.length - 1);
    if (behaviour.kind === 'hang') {
      hanging.add(res);
      return;
    }
    if (behaviour.kind === 'status') {
      res.writeHead(behaviour.status, { 'content-type': 'application/json', ...behaviour.headers });
      res.end(JSON.stringify(behaviour.body));
      return;
    }
    if (behaviour.delayMs) await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
    // Answer out of order on purpose: clients must use `index`.
    const data = body.input.map((text, index) => ({
      object: 'embedding',
      index,
      embedding: vectorOf(text, dimensions),
    }));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: data.reverse(), model: body.model }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/embeddings`,
    requests,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function vectorOf(text: string, dimensions: number): number[] {
  const v = new Array<number>(dimensions).fill(0);
  for (let i = 0; i < text.length; i++) v[text.charCodeAt(i) % dimensions]! += 1;
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}
