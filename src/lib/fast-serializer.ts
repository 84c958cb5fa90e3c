import fastJson from 'fast-json-stringify';
import type { FastifySerializerCompiler } from 'fastify';
import { z } from 'zod';

/**
 * Serialises responses with fast-json-stringify compiled from each route's Zod response schema:
 * the schema decides which fields leave the process, and big lists serialise several times
 * faster than JSON.stringify after a Zod pass.
 */
export const fastSerializerCompiler: FastifySerializerCompiler<z.ZodType> = ({ schema }) => {
  const jsonSchema = z.toJSONSchema(schema, {
    target: 'draft-7',
    io: 'output',
    unrepresentable: 'any',
    reused: 'inline',
  });
  // A union (anyOf) is serialised by the branch its value validates against, with Ajv; Zod's
  // records carry `propertyNames: { type: 'string' }`, which Ajv's strict types would log as a
  // warning at the first answer (JSON keys are strings anyway).
  return fastJson(nullableAsTypeList(jsonSchema) as Parameters<typeof fastJson>[0], {
    ajv: { strictTypes: false },
  }) as (data: unknown) => string;
};

type JsonSchema = { [key: string]: unknown };
const PRIMITIVE = new Set(['string', 'number', 'integer', 'boolean']);

/**
 * Zod writes `.nullable()` of an enum as `anyOf: [{ type: 'string', enum }, { type: 'null' }]`,
 * which fast-json-stringify serialises by validating every value against both branches at run
 * time. The same schema as `type: ['string', 'null']` is serialised by a type check.
 */
function nullableAsTypeList(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(nullableAsTypeList);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) out[key] = nullableAsTypeList(value);
  const branches = out.anyOf;
  if (!Array.isArray(branches) || branches.length !== 2) return out;
  const nullIndex = branches.findIndex((b: JsonSchema) => b.type === 'null' && Object.keys(b).length === 1);
  const other = branches[1 - nullIndex] as JsonSchema | undefined;
  if (nullIndex < 0 || !other || typeof other.type !== 'string' || !PRIMITIVE.has(other.type)) return out;
  const { anyOf: _, ...rest } = out;
  return {
    ...rest,
    ...other,
    type: [other.type, 'null'],
    ...(Array.isArray(other.enum) && { enum: [...other.enum, null] }),
  };
}
