// The 2026-07-28 (stateless) request envelope: which era a POST belongs to, and whether its headers and
// `_meta` agree with its body. Pure: no I/O, nothing trusted from a header that the body does not say.
import { decodeHeaderValue } from '../model/param-headers.js';
import type { ClientInfo } from '../pipeline/context.js';

export { decodeHeaderValue };

/** The stateless revisions this gateway serves (2025-era versions are negotiated by `initialize`). */
export const STATELESS_VERSIONS: readonly string[] = ['2026-07-28'];

export const PROTOCOL_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';
export const CLIENT_CAPABILITIES_KEY = 'io.modelcontextprotocol/clientCapabilities';
export const CLIENT_INFO_KEY = 'io.modelcontextprotocol/clientInfo';
export const LOG_LEVEL_KEY = 'io.modelcontextprotocol/logLevel';
export const SERVER_INFO_KEY = 'io.modelcontextprotocol/serverInfo';
/** Envelope keys the gateway consumes: never forwarded to a 2025 downstream. */
const ENVELOPE_KEYS = [PROTOCOL_VERSION_KEY, CLIENT_CAPABILITIES_KEY, CLIENT_INFO_KEY, LOG_LEVEL_KEY];

/** The log levels, least severe first (RFC 5424, as MCP names them). */
export const LOG_LEVELS: readonly string[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];

export const HEADER_MISMATCH = -32020;
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;
const INVALID_PARAMS = -32602;
const INVALID_REQUEST = -32600;

/** The methods whose target is restated in `Mcp-Name`, and the body field it restates. */
const NAMED: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
};

export interface EraHeaders {
  protocolVersion?: string;
  method?: string;
  name?: string;
  sessionId?: string;
}

/** A 2026 request whose envelope and headers agree with its body; `params` no longer holds the envelope keys. */
export interface StatelessRequest {
  id: string | number;
  method: string;
  params: Record<string, unknown>;
  version: string;
  clientCapabilities: Record<string, unknown>;
  /** Self-reported by the client: recorded, never used for a decision. */
  clientInfo?: ClientInfo;
  /** `_meta`'s logLevel: log messages of this request are relayed at this level and above, none without it. */
  logLevel?: string;
}

export interface StatelessNotification {
  method: string;
}

/** A 2026 request refused before dispatch; `target` is the body's name or URI when the method has one. */
export interface EnvelopeRefusal {
  status: number;
  code: number;
  message: string;
  data?: unknown;
  id: string | number | null;
  method?: string;
  target?: string;
  /** The 2026-era version the request claimed (body, else header), when it claimed one: for metrics and traces. */
  version?: string;
}

export type EraRoute =
  | { era: '2025' }
  | { era: '2026'; request: StatelessRequest }
  | { era: '2026'; notification: StatelessNotification }
  | { era: '2026'; refusal: EnvelopeRefusal };

/** A date-shaped version at or after the first stateless revision (so `2099-01-01` is 2026-era, and unsupported). */
export function isStatelessVersion(version: string | undefined): boolean {
  return version !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(version) && version >= STATELESS_VERSIONS[0]!;
}

/**
 * Routes one parsed JSON-RPC message (never a batch). A session id, or an `initialize` without the 2026
 * `_meta` envelope, is 2025; a body that claims a version in `_meta` (an `initialize` too), or a header
 * naming a stateless version, is 2026; anything else keeps today's 2025 handling. For 2026 the checks run in this order: header/body cross-checks of version and
 * method (-32020), supported version (-32022), envelope keys (-32602), required headers and `Mcp-Name`
 * against the body (-32020).
 *
 * `headers` undefined is a transport with no header layer (stdio): the body alone decides, and the
 * header checks (cross-checks and required headers, every -32020) have nothing to check. `status` is
 * then meaningless.
 */
export function routeEra(eraHeaders: EraHeaders | undefined, body: Record<string, unknown>): EraRoute {
  const headers = eraHeaders ?? {};
  if (headers.sessionId !== undefined) return { era: '2025' };
  const params = isObject(body.params) ? body.params : undefined;
  const meta = params && isObject(params._meta) ? params._meta : undefined;
  const claimed = meta !== undefined && PROTOCOL_VERSION_KEY in meta;
  // An initialize is 2025 unless its body carries the 2026 envelope: then it is a 2026 request for a
  // method 2026-07-28 removed (404, -32601). A header alone never makes it 2026 (a dual-era client's
  // fallback initialize may still carry one).
  if (body.method === 'initialize' && !claimed) return { era: '2025' };
  if (!claimed && !isStatelessVersion(headers.protocolVersion)) return { era: '2025' };

  const id = typeof body.id === 'string' || typeof body.id === 'number' ? body.id : null;
  const method = typeof body.method === 'string' ? body.method : undefined;
  const field = method === undefined ? undefined : NAMED[method];
  const bodyTarget = field && params && typeof params[field] === 'string' ? (params[field] as string) : undefined;
  const claim =
    typeof meta?.[PROTOCOL_VERSION_KEY] === 'string' ? (meta[PROTOCOL_VERSION_KEY] as string) : headers.protocolVersion;
  const eraVersion = isStatelessVersion(claim) ? claim : undefined;
  const refuse = (status: number, code: number, message: string, data?: unknown): EraRoute => ({
    era: '2026',
    refusal: {
      status,
      code,
      message,
      id,
      ...(data !== undefined && { data }),
      ...(method !== undefined && { method }),
      ...(bodyTarget !== undefined && { target: bodyTarget }),
      ...(eraVersion !== undefined && { version: eraVersion }),
    },
  });

  if (method === undefined)
    return refuse(400, INVALID_REQUEST, 'Invalid Request: a 2026-07-28 POST carries a request or a notification');
  const version = meta?.[PROTOCOL_VERSION_KEY];
  if (claimed && headers.protocolVersion !== undefined && headers.protocolVersion !== version) {
    return refuse(
      400,
      HEADER_MISMATCH,
      `Bad Request: the MCP-Protocol-Version header (${headers.protocolVersion}) does not match _meta's protocol version`,
      {
        mismatch: { header: 'MCP-Protocol-Version', body: `params._meta.${PROTOCOL_VERSION_KEY}` },
      },
    );
  }
  if (headers.method !== undefined && headers.method !== method) {
    return refuse(
      400,
      HEADER_MISMATCH,
      `Bad Request: the Mcp-Method header does not match the body's method (${method})`,
      { mismatch: { header: 'Mcp-Method', body: 'method' } },
    );
  }
  const requested = claimed ? version : headers.protocolVersion;
  if (typeof requested === 'string' && !STATELESS_VERSIONS.includes(requested)) {
    return refuse(400, UNSUPPORTED_PROTOCOL_VERSION, `Unsupported protocol version: ${requested}`, {
      supported: [...STATELESS_VERSIONS],
      requested,
    });
  }
  const missing = envelopeProblems(meta);
  if (missing.length > 0)
    return refuse(400, INVALID_PARAMS, `Invalid params: the request's _meta ${missing.join('; ')}`, {
      keys: missing.map((m) => m.split(' ')[0]),
    });

  if (body.id === undefined) return { era: '2026', notification: { method } };
  if (id === null) return refuse(400, INVALID_REQUEST, 'Invalid Request: the id must be a string or a number');
  if (eraHeaders !== undefined) {
    const refusal = headerProblem(eraHeaders, method, field, bodyTarget, refuse);
    if (refusal) return refusal;
  }

  const {
    [PROTOCOL_VERSION_KEY]: _v,
    [CLIENT_CAPABILITIES_KEY]: capabilities,
    [CLIENT_INFO_KEY]: info,
    [LOG_LEVEL_KEY]: logLevel,
    ...rest
  } = meta!;
  for (const key of ENVELOPE_KEYS) delete rest[key];
  const { _meta: _m, ...plain } = params!;
  return {
    era: '2026',
    request: {
      id,
      method,
      params: Object.keys(rest).length > 0 ? { ...plain, _meta: rest } : plain,
      version: version as string,
      clientCapabilities: capabilities as Record<string, unknown>,
      ...(isClientInfo(info) && { clientInfo: { name: info.name, version: info.version } }),
      ...(typeof logLevel === 'string' && { logLevel }),
    },
  };
}

/** The required 2026 headers and `Mcp-Name` against the body's target (HTTP only): the first problem, if any. */
function headerProblem(
  headers: EraHeaders,
  method: string,
  field: 'name' | 'uri' | undefined,
  bodyTarget: string | undefined,
  refuse: (status: number, code: number, message: string, data?: unknown) => EraRoute,
): EraRoute | undefined {
  if (headers.protocolVersion === undefined)
    return refuse(400, HEADER_MISMATCH, 'Bad Request: the MCP-Protocol-Version header is required', {
      missing: 'MCP-Protocol-Version',
    });
  if (headers.method === undefined)
    return refuse(400, HEADER_MISMATCH, 'Bad Request: the Mcp-Method header is required', { missing: 'Mcp-Method' });
  if (field !== undefined) {
    if (headers.name === undefined) {
      if (bodyTarget !== undefined)
        return refuse(400, HEADER_MISMATCH, `Bad Request: the Mcp-Name header is required on ${method}`, {
          missing: 'Mcp-Name',
        });
    } else {
      const named = decodeHeaderValue(headers.name);
      if (named === undefined)
        return refuse(
          400,
          HEADER_MISMATCH,
          'Bad Request: the Mcp-Name header is not valid base64 inside =?base64?…?=',
          { mismatch: { header: 'Mcp-Name', body: `params.${field}` } },
        );
      if (named !== bodyTarget) {
        return refuse(
          400,
          HEADER_MISMATCH,
          `Bad Request: the Mcp-Name header does not match the body's params.${field}`,
          { mismatch: { header: 'Mcp-Name', body: `params.${field}` } },
        );
      }
    }
  }
  return undefined;
}

/** What is wrong with the envelope, one phrase per key (empty when it is well-formed). */
function envelopeProblems(meta: Record<string, unknown> | undefined): string[] {
  const problems: string[] = [];
  if (meta === undefined || typeof meta[PROTOCOL_VERSION_KEY] !== 'string')
    problems.push(`${PROTOCOL_VERSION_KEY} is missing or not a string`);
  if (meta === undefined || !isObject(meta[CLIENT_CAPABILITIES_KEY]))
    problems.push(`${CLIENT_CAPABILITIES_KEY} is missing or not an object`);
  if (meta !== undefined && meta[CLIENT_INFO_KEY] !== undefined && !isClientInfo(meta[CLIENT_INFO_KEY]))
    problems.push(`${CLIENT_INFO_KEY} is not {name, version} strings`);
  if (meta !== undefined && meta[LOG_LEVEL_KEY] !== undefined && !LOG_LEVELS.includes(meta[LOG_LEVEL_KEY] as string))
    problems.push(`${LOG_LEVEL_KEY} is not a log level (${LOG_LEVELS.join(', ')})`);
  return problems;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isClientInfo(value: unknown): value is ClientInfo {
  return isObject(value) && typeof value.name === 'string' && typeof value.version === 'string';
}
