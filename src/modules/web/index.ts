import { defineModule } from '../module.ts';
import { webPageRoutes } from './web-page.routes.ts';

/** The page at / that shows the service to a person (src/web/), built on the public API only. */
export function createWebModule() {
  return defineModule({ routes: webPageRoutes });
}
