/** `version-traceid-spanid-flags`, lower-case hex, as W3C Trace Context writes it. */
export const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A well-formed `traceparent` the gateway may continue (not version ff, no all-zero id), or undefined. */
export function validTraceparent(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const match = TRACEPARENT.exec(value);
  if (!match || match[1] === 'ff' || /^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return undefined;
  return value;
}

/** The trace id of a valid `traceparent`. */
export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}

/** A list member without the optional white space (spaces and tabs only) around it. */
function trimOws(member: string): string {
  return member.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** A `tracestate` list member: `key=value`, the key lower-case (optionally `tenant@system`), as W3C Trace Context writes it. */
const TRACESTATE_MEMBER =
  /^(?:[a-z0-9][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** A well-formed `tracestate` (at most 32 list members, 512 characters), or undefined. */
export function validTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined;
  const members = value
    .split(',')
    .map(trimOws)
    .filter((member) => member !== '');
  if (members.length > 32 || !members.every((member) => TRACESTATE_MEMBER.test(member))) return undefined;
  return value;
}

/** A W3C `baggage` list member: `key=value` with optional `;property` parts; no control characters. */
const BAGGAGE_TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const BAGGAGE_VALUE = '[\\x21\\x23-\\x2b\\x2d-\\x3a\\x3c-\\x5b\\x5d-\\x7e]*';
const BAGGAGE_MEMBER = new RegExp(
  `^${BAGGAGE_TOKEN}[ \\t]*=[ \\t]*${BAGGAGE_VALUE}(?:[ \\t]*;[ \\t]*${BAGGAGE_TOKEN}(?:[ \\t]*=[ \\t]*${BAGGAGE_VALUE})?)*$`,
);

/** A well-formed `baggage` (at most 8192 characters), or undefined. */
export function validBaggage(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 8192) return undefined;
  const members = value.split(',').map(trimOws);
  if (!members.every((member) => BAGGAGE_MEMBER.test(member))) return undefined;
  return value;
}

/**
 * The agent's `_meta` as it may travel downstream: `traceparent`, `tracestate` and `baggage` kept only
 * when well-formed (a `tracestate` only beside a valid `traceparent`), a malformed one dropped; the
 * other keys untouched. Trace context is carried, never checked against policy.
 */
export function checkedTraceMeta(meta: Record<string, unknown>): Record<string, unknown> {
  if (!('traceparent' in meta) && !('tracestate' in meta) && !('baggage' in meta)) return meta;
  const { traceparent, tracestate, baggage, ...rest } = meta;
  const parent = validTraceparent(traceparent);
  const state = parent === undefined ? undefined : validTracestate(tracestate);
  const carried = validBaggage(baggage);
  return {
    ...rest,
    ...(parent !== undefined && { traceparent: parent }),
    ...(state !== undefined && { tracestate: state }),
    ...(carried !== undefined && { baggage: carried }),
  };
}

/** Request headers as node:http gives them. */
export type TraceHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * One trace header's value. A list header (`tracestate`, `baggage`) sent several times is one list,
 * joined with commas as W3C says; a `traceparent` sent twice has no one value.
 */
function headerValue(headers: TraceHeaders, name: string, list: boolean): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) return list ? value.join(',') : undefined;
  return value;
}

/**
 * The agent's trace context as it may travel downstream in `_meta`, from `_meta` where it is valid
 * there, else from the request's HTTP headers: `traceparent` with the `tracestate` of the same source
 * (they are one pair), `baggage` on its own. Each value is checked as `checkedTraceMeta` checks it and a
 * malformed one is dropped; the other `_meta` keys are untouched. The `traceparent` chosen is the one
 * the audit records (`requestTraceparent` reads the same two sources in the same order).
 */
export function agentTraceMeta(meta: Record<string, unknown>, headers?: TraceHeaders): Record<string, unknown> {
  if (
    headers === undefined ||
    (headers.traceparent === undefined && headers.tracestate === undefined && headers.baggage === undefined)
  )
    return checkedTraceMeta(meta);
  const { traceparent, tracestate, baggage, ...rest } = meta;
  const fromMeta = validTraceparent(traceparent);
  const parent = fromMeta ?? validTraceparent(headerValue(headers, 'traceparent', false));
  const state =
    parent === undefined
      ? undefined
      : validTracestate(fromMeta !== undefined ? tracestate : headerValue(headers, 'tracestate', true));
  const carried = validBaggage(baggage) ?? validBaggage(headerValue(headers, 'baggage', true));
  return {
    ...rest,
    ...(parent !== undefined && { traceparent: parent }),
    ...(state !== undefined && { tracestate: state }),
    ...(carried !== undefined && { baggage: carried }),
  };
}
