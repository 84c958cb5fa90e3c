import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import type { JobQueue } from '../../lib/jobs/queue.ts';
import { defineModule } from '../module.ts';
import { createAddressPolicy } from './address-policy.ts';
import { createWebhookDelivery } from './webhook-delivery.jobs.ts';
import { createWebhookDeliveryRepository } from './webhook-delivery.repository.ts';
import { sendWebhook } from './webhook-http.ts';
import { systemResolver, type UrlRules } from './webhook-url.ts';
import { createWebhookRepository } from './webhooks.repository.ts';
import { webhooksRoutes } from './webhooks.routes.ts';
import { createWebhooksService } from './webhooks.service.ts';

export interface WebhooksModuleDeps {
  database: Database;
  config: Config;
  queue: Pick<JobQueue, 'sendKeyed' | 'send'>;
  log: FastifyBaseLogger;
  /** Host name resolution (tests substitute one to stage DNS rebinding); defaults to the system's. */
  resolve?: UrlRules['resolve'];
}

/** The URL rules of this deployment's configuration. */
export function urlRulesFrom(config: Config, resolve: UrlRules['resolve'] = systemResolver): UrlRules {
  return {
    policy: createAddressPolicy(config.WEBHOOK_ALLOWED_NETWORKS),
    httpHosts: config.WEBHOOK_HTTP_HOSTS,
    resolve,
    resolveTimeoutMs: Math.min(5000, config.WEBHOOK_TIMEOUT_MS),
  };
}

/**
 * Wires webhooks: subscriptions (repository → service → /api/me/webhooks routes) and delivery
 * (dispatcher + pg-boss workers). Used by the API and by the worker process.
 */
export function createWebhooksModule({ database, config, queue, log, resolve }: WebhooksModuleDeps) {
  const rules = urlRulesFrom(config, resolve);
  const delivery = createWebhookDelivery({
    deliveries: createWebhookDeliveryRepository(database.db, {
      disableAfterSeconds: config.WEBHOOK_DISABLE_AFTER_SECONDS,
    }),
    queue,
    post: (url, body, headers) =>
      sendWebhook(url, body, headers, {
        rules,
        timeoutMs: config.WEBHOOK_TIMEOUT_MS,
        maxResponseBytes: config.WEBHOOK_MAX_RESPONSE_BYTES,
      }),
    retry: {
      limit: config.WEBHOOK_RETRY_LIMIT,
      baseDelayMs: config.WEBHOOK_RETRY_DELAY_MS,
      maxDelayMs: config.WEBHOOK_RETRY_DELAY_MAX_MS,
    },
    replayAttempts: config.JOB_RETRY_LIMIT + 1,
    log,
  });
  const service = createWebhooksService({
    webhooks: createWebhookRepository(database.db),
    rules,
    enqueueReplay: delivery.enqueueReplay,
  });

  return defineModule({
    service,
    delivery,
    routes: async (app) => {
      await app.register(webhooksRoutes(service), { prefix: '/api/me/webhooks' });
    },
    jobs: [
      {
        name: 'webhooks.deliver',
        concurrency: config.WEBHOOK_CONCURRENCY,
        batchSize: 1,
        handle: (jobs) => delivery.handleDeliver(jobs),
      },
      {
        name: 'webhooks.replay',
        concurrency: 2,
        batchSize: 1,
        handle: (jobs) => delivery.handleReplay(jobs),
      },
    ],
    /**
     * The dispatcher: subscriptions behind the event log get a delivery job (keyed, so any number
     * of processes may dispatch at once). A loop of every process that runs workers, not a schedule:
     * a webhook leaves within WEBHOOK_DISPATCH_INTERVAL_MS (a second), below pg-boss cron's minute.
     */
    sweeps: [
      {
        intervalMs: config.WEBHOOK_DISPATCH_INTERVAL_MS,
        run: () => delivery.dispatch(),
        onError: (error) => log.error({ err: error }, 'webhook dispatch failed'),
      },
    ],
  });
}
