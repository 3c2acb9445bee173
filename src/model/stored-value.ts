import { isWardenError } from '../errors.js';
import { mapJson } from './json-walk.js';

/*
 * How a value is cut down before anything stores it (the audit, approval summaries): credential-named
 * members blanked, secret values redacted, and the JSON capped in size.
 */

export const REDACTED = '[REDACTED]';
/** Argument keys that name a credential: their values are never stored (the digest still covers them). */
const SENSITIVE_KEY =
  /^(pass(word)?|passwd|secret|client[-_]?secret|api[-_]?key|(access|refresh|id|bearer)?[-_]?token|authorization|cookie|private[-_]?key|credentials?)$/i;

/** Set by `scrubValue` when it changed anything: the stored value is then not the whole original. */
export interface ScrubReport {
  changed: boolean;
}

/**
 * Sensitive keys blanked, secret values redacted from every string, at any depth (the one JSON walk,
 * src/model/json-walk.ts). A value too deep to walk is stored as a marker, never unscrubbed.
 * `depth` is kept for callers' signatures; the walk's own depth rule applies.
 */
export function scrubValue(
  value: unknown,
  redact: (text: string) => string,
  _depth = 0,
  report?: ScrubReport,
): unknown {
  const changed = () => {
    if (report) report.changed = true;
  };
  const string = (text: string) => {
    const out = redact(text);
    if (out !== text) changed();
    return out;
  };
  try {
    return mapJson(value, {
      string,
      member: (key, item) => {
        if (!SENSITIVE_KEY.test(key) || item === null || item === undefined || item === '') return undefined;
        changed();
        return REDACTED;
      },
    });
  } catch (error) {
    if (!isWardenError(error, 'ERR_JSON_TOO_DEEP')) throw error;
    changed();
    return TOO_DEEP;
  }
}

/** Whether a stored value is a truncation marker written by `capValue`. */
export function isTruncated(value: unknown): value is { $truncated: true; bytes: number; preview: string } {
  return value !== null && typeof value === 'object' && (value as { $truncated?: unknown }).$truncated === true;
}

const TOO_DEEP = '[value nested too deep; not recorded]';

/** The value itself when its JSON fits in `maxBytes`; otherwise a truncation marker with a preview. */
export function capValue(value: unknown, maxBytes: number): unknown {
  const json = JSON.stringify(value) ?? 'null';
  const bytes = Buffer.byteLength(json);
  if (bytes <= maxBytes) return value;
  const preview = Buffer.from(json)
    .subarray(0, maxBytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return { $truncated: true, bytes, preview };
}
