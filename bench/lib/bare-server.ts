import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { RecordedResponse } from './bare-ceiling.ts';

/**
 * The ceiling: a bare node:http server answering every request with the same response, headers
 * and body, that the app sent for one route (recorded by bare-ceiling.ts in the file named on the
 * command line). Run as its own process.
 */
const [responseFile] = process.argv.slice(2);
if (!responseFile) {
  console.error('usage: node bench/lib/bare-server.ts <response-file>');
  process.exit(2);
}
const recorded = JSON.parse(readFileSync(responseFile, 'utf8')) as RecordedResponse;
const body = Buffer.from(recorded.body, 'base64');
const headers = [...recorded.headers.flat(), 'content-length', String(body.length)];
const server = createServer((_request, response) => {
  response.writeHead(200, headers);
  response.end(body);
}).listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');

process.on('SIGTERM', () => server.close(() => process.exit(0)));
