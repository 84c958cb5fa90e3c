import swagger from '@fastify/swagger';
import scalar from '@scalar/fastify-api-reference';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { type Access, rolesWith } from '../modules/auth/permissions.ts';
import { SCOPE_NAMES, type Scope } from '../modules/auth/scopes.ts';
import { completeDocument } from './openapi-docs.ts';

type TransformInput = Parameters<typeof jsonSchemaTransform>[0] & {
  route?: { config?: { permission?: Access; scope?: Scope } };
};

/**
 * Who may call an operation, in the document: `security` (none for public routes, which also
 * overrides any default) whose requirement lists the API-key scope the operation needs (OpenAPI
 * 3.1 lets any scheme list the roles it requires), `x-permission` and `x-roles` for tools, and a
 * sentence for people.
 */
function accessAnnotations(permission: Access, scope: Scope | undefined, description: string | undefined) {
  if (permission === 'public') {
    return {
      security: [],
      'x-permission': 'public',
      description: join(description, 'Public: no credentials needed.'),
    };
  }
  const roles = rolesWith(permission);
  const scopes = scope ? [scope] : [];
  return {
    security: [{ bearerAuth: scopes }, { apiKeyAuth: scopes }],
    'x-permission': permission,
    'x-roles': roles,
    description: join(
      description,
      `Requires the \`${permission}\` permission (roles: ${roles.join(', ')})${scope ? `; an API key needs the \`${scope}\` scope` : ''}.`,
    ),
  };
}

const join = (a: string | undefined, b: string) => (a ? `${a}\n\n${b}` : b);

/** OpenAPI 3.1 from the routes' Zod schemas at /openapi.json; a browsable reference at /docs; both only when docsEnabled. */
async function openapi(app: FastifyInstance, { docsEnabled }: { docsEnabled: boolean }) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Markets API',
        version: '0.1.0',
        description: 'Prediction markets: list, search, create and trade markets, resolve them, pay out.',
      },
      // In the reference's order: the markets first (it opens the first group).
      tags: [
        { name: 'markets', description: 'Markets: list, search, read, create, edit, delete; price history' },
        {
          name: 'trading',
          description: 'Buy and sell shares, quotes, trades and positions; resolve and cancel',
        },
        { name: 'auth', description: 'Register, log in, refresh and log out' },
        { name: 'me', description: 'Your account, API keys, trades and positions' },
        { name: 'users', description: 'Public profiles; user administration' },
        { name: 'admin', description: 'Jobs, reindexing and the ledger check (admins)' },
        { name: 'probes', description: 'Liveness, readiness and metrics for orchestrators and monitoring' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: `An access token from /api/auth/login, or an API key (\`mk_live_…\`). Each operation lists the scope an API key needs (${SCOPE_NAMES.join(', ')}); access tokens act with their whole role`,
          },
          apiKeyAuth: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description: 'An API key (`mk_live_…`); each operation lists the scope it needs',
          },
        },
      },
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      const { permission, scope } = (input as TransformInput).route?.config ?? {};
      if (permission && out.schema && !out.schema.hide) {
        Object.assign(
          out.schema,
          accessAnnotations(permission, scope, out.schema.description as string | undefined),
        );
      }
      // A module's root route ('/' under prefix '/api/markets') is documented as /api/markets,
      // the URL clients use, not /api/markets/.
      return { ...out, url: out.url.length > 1 ? out.url.replace(/\/$/, '') : out.url };
    },
    // Operation ids, the shared headers' descriptions and the error examples, in one place.
    transformObject: (input) => completeDocument(jsonSchemaTransformObject(input)),
  });

  // Off (DOCS_ENABLED=false, the production default), neither is served: the document lists
  // every route, admin ones included. The spec is still built (app.swagger()) for scripts and tests.
  if (docsEnabled) {
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    await app.register(scalar, {
      routePrefix: '/docs',
      // Everything from this origin (the page's CSP allows nothing else, security-headers.ts): the
      // script is the copy the plugin serves at /docs/js/scalar.js, the fonts the system's (no
      // fonts.scalar.com). None of Scalar's cloud: no developer toolbar (Deploy, Generate SDK,
      // Share), no "Ask AI" agent, no MCP offer, no telemetry.
      configuration: {
        url: '/openapi.json',
        withDefaultFonts: false,
        showDeveloperTools: 'never',
        agent: { disabled: true },
        mcp: { disabled: true },
        telemetry: false,
        documentDownloadType: 'json',
      },
    });
  }
}

export const openapiPlugin = fp(openapi, { name: 'openapi', dependencies: ['security-headers'] });
