import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { CLIENT_TYPES_FILE, clientTypesFor, liveOpenApiDocument } from '../scripts/lib/openapi-document.ts';

/**
 * The typed client is only as good as its types: they are generated from the document the app
 * builds, and committed. A route or schema changed without `npm run client:generate` fails here
 * (and so in CI), with the first line that differs.
 */
test('the committed client types are what openapi-typescript makes of the live OpenAPI document', async () => {
  const [committed, live] = await Promise.all([
    readFile(CLIENT_TYPES_FILE, 'utf8'),
    liveOpenApiDocument().then(clientTypesFor),
  ]);
  if (committed === live) return;
  const a = committed.split('\n');
  const b = live.split('\n');
  const line = a.findIndex((text, i) => text !== b[i]);
  assert.fail(
    `client/src/schema.ts is out of date: run \`npm run client:generate\` and commit it.\n` +
      `first difference at line ${line + 1}:\n  committed: ${a[line]}\n  live:      ${b[line]}`,
  );
});
