#!/usr/bin/env node
// A floor for the bench, not a product: the least a proxy in front of the echo server can do, with no
// governance at all. It parses every JSON-RPC message it relays (a proxy that decides anything must),
// and does nothing else: no identity, policy, audit, credential or scrub. Measured in the same run as
// mcp-warden, it shows what one more hop costs on this machine before any governance, so a target
// below it is out of reach for any proxy written this way. The first `tools/list` result it relays is
// kept as bytes and every later one is answered from them without asking the server (what mcp-warden's
// remembered page does, minus the policy): the floor of a list through any proxy. Modes:
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

/** The first tools/list result relayed, as JSON bytes; later lists are answered with it. */
let listResult;
const listAnswer = (id) =>
  Buffer.concat([Buffer.from(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":`), listResult, Buffer.from('}')]);

/** The JSON-RPC message in an answer body: the body itself, or the data of an event stream's event. */
function messageIn(text, contentType) {
  if (!contentType.includes('text/event-stream')) return JSON.parse(text);
  const data = text
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trim())
    .find((line) => line.startsWith('{'));
  return data === undefined ? undefined : JSON.parse(data);
}

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
      let message;
      if (body.length > 0) {
        try {
          message = JSON.parse(body.toString('utf8'));
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"not JSON"}');
          return;
        }
      }
      const isList = message?.method === 'tools/list';
      if (isList && listResult) {
        const answer = listAnswer(message.id);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length }).end(answer);
        return;
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
          if (isList && answer.statusCode === 200) keepList(answer);
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
  /** Reads a list answer as it is relayed and keeps its result. */
  const keepList = (answer) => {
    const parts = [];
    answer.on('data', (chunk) => parts.push(chunk));
    answer.on('end', () => {
      const result = messageIn(Buffer.concat(parts).toString('utf8'), answer.headers['content-type'] ?? '')?.result;
      if (result) listResult = Buffer.from(JSON.stringify(result));
    });
  };
  server.keepAliveTimeout = 60_000;
  server.listen(Number(values.port), '127.0.0.1', () => {
    process.stdout.write(`relay listening on http://127.0.0.1:${server.address().port}/mcp\n`);
  });
} else {
  const [command, ...args] = positionals;
  if (!command) fail('--stdio needs -- COMMAND [ARGS…]');
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'ignore'] });
  child.on('exit', (code) => process.exit(code ?? 1));
  /** Ids of the agent's tools/list requests whose answers are still to come from the server. */
  const listIds = new Set();
  /** Each line parsed (a malformed one is dropped, as a proxy that must read it would), then written on. */
  const relay = (from, to, look) =>
    createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => {
      let message;
      try {
        message = JSON.parse(line);
      } catch {
        return;
      }
      if (look(message)) to.write(`${line}\n`);
    });
  relay(process.stdin, child.stdin, (message) => {
    if (message.method !== 'tools/list') return true;
    if (!listResult) {
      listIds.add(message.id);
      return true;
    }
    process.stdout.write(Buffer.concat([listAnswer(message.id), Buffer.from('\n')]));
    return false;
  });
  relay(child.stdout, process.stdout, (message) => {
    if (message.result && listIds.delete(message.id)) listResult = Buffer.from(JSON.stringify(message.result));
    return true;
  });
  process.stdin.on('end', () => child.stdin.end());
}
