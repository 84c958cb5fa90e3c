import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CLIENT_TYPES_FILE, clientTypesFor, liveOpenApiDocument } from './lib/openapi-document.ts';

/** `npm run client:generate`: rewrites client/src/schema.ts from the document the app builds now. */
const types = await clientTypesFor(await liveOpenApiDocument());
await writeFile(CLIENT_TYPES_FILE, types);
console.log(`wrote ${fileURLToPath(CLIENT_TYPES_FILE)} (${types.length} characters)`);
