/**
 * `node dist/bench/node-static.js HOST PORT FILE`: the least an HTTP server on Node can do,
 * node:http answering every request with one file's bytes from memory. Beside nginx it
 * shows what part of a gap is Node's own and what part is metalbox's work per request.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [host, port, file] = process.argv.slice(2);
if (!host || !port || !file) throw new Error('usage: node-static HOST PORT FILE');
const body = readFileSync(file);
createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  response.end(body);
}).listen(Number(port), host);
