import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { CircuitBreaker } from '../circuit-breaker.ts';
import { createLocalEmbedder } from './local-embedder.ts';
import { createOpenAiEmbedder } from './openai-embedder.ts';

/** Turns texts into vectors of `dimensions` numbers, one per text, in order. */
export interface Embedder {
  /** Recorded beside every embedding: rows made by another model are not comparable. */
  readonly model: string;
  readonly dimensions: number;
  embed(texts: string[]): Promise<number[][]>;
  /** A remote provider's circuit (shown in /metrics and /readyz); none for the local embedder. */
  readonly breaker?: CircuitBreaker;
}

/** The embedder the configuration names. */
export function createEmbedder(config: Config, log: FastifyBaseLogger): Embedder {
  if (config.EMBEDDINGS_PROVIDER === 'openai') {
    return createOpenAiEmbedder({
      url: config.EMBEDDINGS_URL,
      apiKey: config.EMBEDDINGS_API_KEY ?? '',
      model: config.EMBEDDINGS_MODEL,
      dimensions: config.EMBEDDING_DIMENSIONS,
      timeoutMs: config.EMBEDDINGS_TIMEOUT_MS,
      maxRetries: config.EMBEDDINGS_MAX_RETRIES,
      batchSize: config.EMBEDDINGS_BATCH_SIZE,
      circuit: { log, coolDownMs: config.EMBEDDINGS_CIRCUIT_COOL_DOWN_MS },
    });
  }
  return createLocalEmbedder(config.EMBEDDING_DIMENSIONS);
}

/** Scales a vector to length 1, so cosine similarity is a dot product (a zero vector stays zero). */
export function l2Normalize(vector: number[]): number[] {
  let sum = 0;
  for (const x of vector) sum += x * x;
  const norm = Math.sqrt(sum);
  return norm === 0 ? vector : vector.map((x) => x / norm);
}
