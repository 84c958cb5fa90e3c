import type { FastifyBaseLogger } from 'fastify';
import { createCircuitBreaker } from '../circuit-breaker.ts';
import { classifyFetchError, fetchWithRetry, HttpError, type RetryPolicy } from '../retry.ts';
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
  /**
   * Set: a circuit breaker guards the provider. After a timeout (or a few failures in a row) calls
   * fail at once with CircuitOpenError, searches fall back to full text and indexing jobs are
   * retried later, until a background probe (one small embedding) gets an answer.
   */
  circuit?: { log: FastifyBaseLogger; coolDownMs: number };
}

interface EmbeddingsResponse {
  data?: { index: number; embedding: number[] }[];
}

/** An OpenAI-compatible /v1/embeddings client: batched requests, per-request timeout, transient-only retries. */
export function createOpenAiEmbedder(options: OpenAiEmbedderOptions): Embedder {
  const request = (texts: string[]): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
    body: JSON.stringify({ model: options.model, input: texts, dimensions: options.dimensions }),
  });
  const policy: RetryPolicy = {
    retries: options.maxRetries,
    baseDelayMs: options.baseDelayMs ?? 500,
    maxDelayMs: 30_000,
    timeoutMs: options.timeoutMs,
  };
  const breaker =
    options.circuit &&
    createCircuitBreaker({
      name: 'embeddings',
      ...options.circuit,
      classify: classifyFetchError,
      // One attempt, outside the circuit: it is what decides to close it. Any answer will do, even
      // a refusal (a 4xx says the provider is up; the call that gets it reports it).
      probe: () =>
        fetchWithRetry(options.url, request(['ping']), { ...policy, retries: 0 }).then(
          (response) => response.arrayBuffer(),
          (error: unknown) => {
            if (classifyFetchError(error) !== 'answer') throw error;
          },
        ),
    });

  async function embedBatch(texts: string[]): Promise<number[][]> {
    const response = await fetchWithRetry(
      options.url,
      request(texts),
      breaker ? { ...policy, breaker } : policy,
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
    ...(breaker && { breaker }),
    async embed(texts) {
      const out: number[][] = [];
      for (let i = 0; i < texts.length; i += options.batchSize) {
        out.push(...(await embedBatch(texts.slice(i, i + options.batchSize))));
      }
      return out;
    },
  };
}
