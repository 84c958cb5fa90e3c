import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

/**
 * The ceiling: a bare node:http server answering every request with the same bytes (read from
 * the file named on the command line) that the app sends for one route. Run as its own process.
 */
const [bodyFile, contentType = 'application/json; charset=utf-8'] = process.argv.slice(2);
if (!bodyFile) {
  console.error('usage: node bench/lib/bare-server.ts <body-file> [content-type]');
  process.exit(2);
}
const body = readFileSync(bodyFile);
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
  response.end(body);
}).listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');

process.on('SIGTERM', () => server.close(() => process.exit(0)));
