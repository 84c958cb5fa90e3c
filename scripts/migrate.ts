import { openScriptDatabase } from './lib/script-database.ts';

/** `npm run migrate`: applies pending SQL migrations (the server also does so at start). */
const { database, via } = await openScriptDatabase();
await database.close();
console.log(`migrations are up to date (${via})`);
