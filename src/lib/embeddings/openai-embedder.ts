import { fetchWithRetry, HttpError } from '../retry.ts';
import type { Embedder } from './embedder.ts';

export interface OpenAiEmbedderOptions {
  /** The full endpoint, e.g. https://api.openai.com/v1/embeddings (any compatible server). */
  url: string;
  apiKey: string;
  model: string;
  dimensions: number;
  timeoutMs: number;
  maxRetries: number;
  batchSize: number;
  /** Delay before the first retry (tests shorten it). */
  baseDelayMs?: number;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

interface EmbeddingsResponse {
  data?: { index: number; embedding: number[] }[];
}

/** An OpenAI-compatible /v1/embeddings client: batched requests, per-request timeout, transient-only retries. */
export function createOpenAiEmbedder(options: OpenAiEmbedderOptions): Embedder {
  async function embedBatch(texts: string[]): Promise<number[][]> {
    const response = await fetchWithRetry(
      options.url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
        body: JSON.stringify({ model: options.model, input: texts, dimensions: options.dimensions }),
      },
      {
        retries: options.maxRetries,
        baseDelayMs: options.baseDelayMs ?? 500,
        maxDelayMs: 30_000,
        timeoutMs: options.timeoutMs,
      },
      options.onRetry,
    );
    const body = (await response.json()) as EmbeddingsResponse;
    const data = body.data;
    if (!Array.isArray(data) || data.length !== texts.length) {
      throw new HttpError(
        `Embeddings provider returned ${data?.length ?? 'no'} vectors for ${texts.length} texts`,
        200,
      );
    }
    // The API may answer out of order; `index` says which input each vector belongs to.
    const out = new Array<number[]>(texts.length);
    for (const item of data) {
      if (item.embedding.length !== options.dimensions) {
        throw new HttpError(
          `Embeddings provider returned ${item.embedding.length} dimensions, expected ${options.dimensions}`,
          200,
        );
      }
      out[item.index] = item.embedding;
    }
    return out;
  }

  return {
    model: `openai:${options.model}:${options.dimensions}`,
    dimensions: options.dimensions,
    async embed(texts) {
      const out: number[][] = [];
      for (let i = 0; i < texts.length; i += options.batchSize) {
        out.push(...(await embedBatch(texts.slice(i, i + options.batchSize))));
      }
      return out;
    },
  };
}
