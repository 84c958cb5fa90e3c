import swagger from '@fastify/swagger';
import scalar from '@scalar/fastify-api-reference';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

type TransformInput = Parameters<typeof jsonSchemaTransform>[0] & {
  route?: { config?: { permission?: string } };
};

/** OpenAPI 3.1 from the routes' Zod schemas at /openapi.json; a browsable reference at /docs. */
export const openapiPlugin = fp(async (app: FastifyInstance, { docsEnabled }: { docsEnabled: boolean }) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Markets API',
        version: '0.1.0',
        description: 'Prediction markets: list, search, create and trade markets, resolve them, pay out.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      const permission = (input as TransformInput).route?.config?.permission;
      if (permission && out.schema && !out.schema.hide) {
        Object.assign(out.schema, { security: [{ bearerAuth: [] }], 'x-permission': permission });
      }
      // A module's root route ('/' under prefix '/api/markets') is documented as /api/markets,
      // the URL clients use, not /api/markets/.
      return { ...out, url: out.url.length > 1 ? out.url.replace(/\/$/, '') : out.url };
    },
    transformObject: jsonSchemaTransformObject,
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  if (docsEnabled) {
    await app.register(scalar, { routePrefix: '/docs', configuration: { url: '/openapi.json' } });
  }
});
