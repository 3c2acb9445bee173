#!/usr/bin/env node
// A floor for the bench, not a product: the least a proxy in front of the echo server can do, with no
// governance at all. It parses every JSON-RPC message it relays (a proxy that decides anything must),
// and does nothing else: no identity, policy, audit, credential or scrub. Measured in the same run as
// mcp-warden, it shows what one more hop costs on this machine before any governance, so a target
// below it is out of reach for any proxy written this way. Modes:
//   node bench/servers/relay.mjs --http --port 0 --to http://127.0.0.1:PORT/mcp
//     Streamable HTTP in, Streamable HTTP out: every request read whole and parsed, then sent on a
//     keep-alive connection; the answer (JSON or an event stream) is passed back as it arrives.
//   node bench/servers/relay.mjs --stdio -- COMMAND [ARGS…]
//     stdio in, stdio out: each line from the agent is parsed and written to the child, each line of
//     the child's parsed and written to the agent.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    http: { type: 'boolean', default: false },
    stdio: { type: 'boolean', default: false },
    port: { type: 'string', default: '0' },
    to: { type: 'string' },
    run: { type: 'string' },
  },
});
if (values.http === values.stdio) fail('choose exactly one of --http and --stdio');

function fail(message) {
  process.stderr.write(`relay: ${message}\n`);
  process.exit(2);
}

/** Headers a Streamable HTTP request or answer carries that the other side needs. */
const REQUEST_HEADERS = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];
const ANSWER_HEADERS = ['content-type', 'mcp-session-id', 'cache-control'];

const pick = (headers, names) => {
  const out = {};
  for (const name of names) if (headers[name] !== undefined) out[name] = headers[name];
  return out;
};

if (values.http) {
  if (!values.to) fail('--http needs --to URL');
  const to = new URL(values.to);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.length > 0) {
        try {
          JSON.parse(body.toString('utf8'));
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"not JSON"}');
          return;
        }
      }
      const out = request(
        {
          host: to.hostname,
          port: to.port,
          path: to.pathname,
          method: req.method,
          agent,
          headers: pick(req.headers, REQUEST_HEADERS),
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, pick(answer.headers, ANSWER_HEADERS));
          answer.pipe(res);
        },
      );
      out.on('error', () => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      // An agent gone before the answer ends takes the downstream request with it.
      res.on('close', () => {
        if (!res.writableFinished) out.destroy();
      });
      out.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(values.port), '127.0.0.1', () => {
    process.stdout.write(`relay listening on http://127.0.0.1:${server.address().port}/mcp\n`);
  });
} else {
  const [command, ...args] = positionals;
  if (!command) fail('--stdio needs -- COMMAND [ARGS…]');
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'ignore'] });
  child.on('exit', (code) => process.exit(code ?? 1));
  /** Each line parsed (a malformed one is dropped, as a proxy that must read it would), then written on. */
  const relay = (from, to) =>
    createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => {
      try {
        JSON.parse(line);
      } catch {
        return;
      }
      to.write(`${line}\n`);
    });
  relay(process.stdin, child.stdin);
  relay(child.stdout, process.stdout);
  process.stdin.on('end', () => child.stdin.end());
}
