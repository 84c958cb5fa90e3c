// Loaded first by every npm script that runs our code (`node --import ./scripts/preload.js …`; npm
// runs scripts in the package's directory). Plain JavaScript on purpose: on a Node too old to strip
// TypeScript types it must still run, and say in one line what is needed instead of the loader's
// stack trace about the ".ts" extension.
//
// 1. The Node version. npm scripts find the Node that `npm ci` installed (the `node` dependency,
//    linked in node_modules/.bin, which npm puts first on a script's PATH), whatever Node runs npm.
//    This fails only when that is missing: `npm start` before `npm ci`, or `--ignore-scripts`.
// 2. `.env` in this directory, if there is one: its variables fill in what the real environment
//    does not set (the real environment wins), before anything reads the configuration. Here and not
//    in src/ so that only these commands read it: `node src/server.ts` under a process manager or in
//    a container, and every server the tests start, see their real environment alone.
import { accessSync, constants, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
/** `engines.node` of package.json (">=22.19"): the highest minimum the dependencies declare. */
const minimum = String(pkg.engines.node).replace(/^>=\s*/, '');
const bundled = pkg.dependencies.node;

const parts = (version) => version.split('.').map((n) => Number.parseInt(n, 10) || 0);
const [major, minor, patch] = parts(process.versions.node);
const [needMajor, needMinor, needPatch] = parts(minimum);
const tooOld =
  major !== needMajor ? major < needMajor : minor !== needMinor ? minor < needMinor : patch < needPatch;

if (tooOld) {
  let installed = false;
  try {
    accessSync(new URL('../node_modules/.bin/node', import.meta.url), constants.X_OK);
    installed = true;
  } catch {}
  const how = installed
    ? `start it with npm (npm start, npm test, npm run …), which runs the Node ${bundled} that npm ci put in node_modules/.bin, or install Node ${minimum}+ (https://nodejs.org)`
    : `run npm ci first: it installs Node ${bundled} into node_modules/.bin, which npm start and npm test then use (or install Node ${minimum}+ yourself: https://nodejs.org)`;
  console.error(
    `Markets API needs Node.js ${minimum} or newer; this is ${process.version} (${process.execPath}): ${how}.`,
  );
  process.exit(1);
}

try {
  process.loadEnvFile('.env'); // never overrides a variable that is already set
} catch (error) {
  if (error.code !== 'ENOENT') {
    console.error(`Cannot read .env: ${error.message}`);
    process.exit(1);
  }
}
