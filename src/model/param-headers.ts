// `x-mcp-header` (2026-07-28, Streamable HTTP): a tool's inputSchema may mark a primitive argument to
// be mirrored in an `Mcp-Param-<Name>` HTTP header. The gateway builds those headers towards a 2026 HTTP
// server from the arguments it forwards, and checks an agent's against the body it governs. Pure.

export const PARAM_HEADER_PREFIX = 'Mcp-Param-';
const MARK = 'x-mcp-header';
/** RFC 9110 token characters: what a header name may hold. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PRIMITIVE = new Set(['string', 'integer', 'boolean']);
const SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;

/** One mirrored argument: where it is in `arguments` (a chain of property names) and its header name. */
export interface ParamHeader {
  path: readonly string[];
  name: string;
  type: string;
}

/**
 * The mirrored arguments an inputSchema declares, found through `properties` only (the one chain the
 * spec lets a mark sit on). Undefined when a declaration is unsound (not a token, not on a string,
 * integer or boolean property, or two names equal but for case): such a tool gets no headers.
 */
export function paramHeaders(inputSchema: unknown): ParamHeader[] | undefined {
  const found: ParamHeader[] = [];
  const seen = new Set<string>();
  const visit = (schema: unknown, path: string[]): boolean => {
    if (!isObject(schema)) return true;
    if (MARK in schema && path.length > 0) {
      const name = schema[MARK];
      const type = schema.type;
      if (typeof name !== 'string' || !TOKEN.test(name) || typeof type !== 'string' || !PRIMITIVE.has(type))
        return false;
      if (seen.has(name.toLowerCase())) return false;
      seen.add(name.toLowerCase());
      found.push({ path, name, type });
    }
    if (!isObject(schema.properties)) return true;
    return Object.entries(schema.properties).every(([key, child]) => visit(child, [...path, key]));
  };
  return visit(inputSchema, []) ? found : undefined;
}

/** An argument as its header carries it: strings as they are, numbers in decimal, booleans in lower case. */
function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number' && Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value)))
    return String(value);
  return undefined;
}

function valueAt(args: unknown, path: readonly string[]): unknown {
  let node = args;
  for (const key of path) node = isObject(node) ? node[key] : undefined;
  return node;
}

/** A header value: as it is when it is plain visible ASCII (tabs allowed) with no edge spaces, else `=?base64?…?=` of its UTF-8. */
export function encodeHeaderValue(text: string): string {
  const plain = text.length > 0 && text === text.trim() && /^[\t\x20-\x7e]*$/.test(text) && !SENTINEL.test(text);
  return plain ? text : `=?base64?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

/**
 * A header value as the client meant it: plain, or `=?base64?…?=` decoded as UTF-8. Undefined when the
 * sentinel holds something that is not canonical base64 of valid UTF-8 (never guessed at).
 */
export function decodeHeaderValue(value: string): string | undefined {
  if (!value.startsWith('=?base64?')) return value;
  const match = SENTINEL.exec(value);
  if (!match || match[1]!.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(match[1]!, 'base64');
  if (bytes.toString('base64') !== match[1]) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** The `Mcp-Param-*` headers for a call's arguments (an absent, null or non-primitive value gets none). */
export function mirroredHeaders(declared: readonly ParamHeader[], args: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const param of declared) {
    const text = asText(valueAt(args, param.path));
    if (text !== undefined) headers[`${PARAM_HEADER_PREFIX}${param.name}`] = encodeHeaderValue(text);
  }
  return headers;
}

/**
 * What is wrong with an agent's `Mcp-Param-*` headers against the body it sent, or undefined: every
 * declared argument the body carries needs its header, decoding to the same value (integers compared
 * as numbers). A header for an argument the body does not carry is not looked at. `header` reads a
 * request header by its lower-case name.
 */
export function paramHeaderProblem(
  declared: readonly ParamHeader[],
  args: unknown,
  header: (lowerName: string) => string | undefined,
): { header: string; message: string } | undefined {
  for (const param of declared) {
    const value = valueAt(args, param.path);
    const text = asText(value);
    if (text === undefined) continue;
    const name = `${PARAM_HEADER_PREFIX}${param.name}`;
    const sent = header(name.toLowerCase());
    const where = `arguments.${param.path.join('.')}`;
    if (sent === undefined) return { header: name, message: `the ${name} header is required when ${where} is sent` };
    const decoded = decodeHeaderValue(sent);
    if (decoded === undefined)
      return { header: name, message: `the ${name} header is not valid base64 inside =?base64?…?=` };
    const same =
      param.type === 'integer' && typeof value === 'number' && /^-?\d+(\.\d+)?$/.test(decoded)
        ? Number(decoded) === value
        : decoded === text;
    if (!same) return { header: name, message: `the ${name} header does not match the body's ${where}` };
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
