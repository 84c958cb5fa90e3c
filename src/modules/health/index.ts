import { defineModule } from '../module.ts';
import { type HealthDeps, healthRoutes } from './health.routes.ts';

/** The probes /healthz (the process is up) and /readyz (its dependencies answer; not draining). */
export function createHealthModule(deps: HealthDeps) {
  return defineModule({ routes: healthRoutes(deps) });
}
