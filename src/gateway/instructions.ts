import { NAMESPACE_SEPARATOR } from '../model/catalog.js';
import { cleanText } from '../model/sanitize.js';
import type { Scrubber } from '../pipeline/stages.js';

/** Caps on the downstream instructions merged into the gateway's own: per server, and in all. */
export const MAX_SERVER_INSTRUCTIONS = 2_000;
export const MAX_INSTRUCTIONS = 8_000;

/**
 * The downstream servers' `instructions`, merged for the agent: each through the egress stage,
 * cleaned like a description, cut at MAX_SERVER_INSTRUCTIONS and prefixed with its server id (the
 * prefix its tools carry), in config order until MAX_INSTRUCTIONS. Undefined when no server gave any.
 */
export function mergeInstructions(
  egress: Pick<Scrubber, 'scrubText'>,
  given: readonly { serverId: string; prefix: string | false; text: string | undefined }[],
): string | undefined {
  const parts: string[] = [];
  let total = 0;
  for (const { serverId, prefix, text } of given) {
    if (text === undefined) continue;
    let clean = cleanText(egress.scrubText(text)).trim();
    if (clean === '') continue;
    if (clean.length > MAX_SERVER_INSTRUCTIONS)
      clean = `${clean.slice(0, MAX_SERVER_INSTRUCTIONS)} [cut: longer than ${MAX_SERVER_INSTRUCTIONS} characters]`;
    const tools =
      prefix === false ? 'its tools are unprefixed' : `its tools are named ${prefix}${NAMESPACE_SEPARATOR}*`;
    const part = `## Server ${serverId} (${tools})\n${clean}`;
    if (total + part.length > MAX_INSTRUCTIONS) {
      parts.push(`## Instructions of further servers left out (over ${MAX_INSTRUCTIONS} characters in all)`);
      break;
    }
    parts.push(part);
    total += part.length;
  }
  if (parts.length === 0) return undefined;
  return `The gateway offers the tools of several servers. Their own instructions follow, each under its server id.\n\n${parts.join('\n\n')}`;
}
