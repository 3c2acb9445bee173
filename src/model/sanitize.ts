/* eslint-disable no-control-regex -- matching control characters is this module's purpose */
import { mapJson } from './json-walk.js';
/**
 * Cleaning of text that came from a downstream before it reaches an agent or a log line.
 * Names, titles, descriptions and error text lose every invisible or terminal-controlling character;
 * tool results keep their content and lose only terminal escape sequences.
 */

// ESC-introduced sequences: CSI (ESC [ … final), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC strings, then
// any other escape (ESC, intermediates 0x20-0x2F, a final 0x30-0x7E: ESC c resets the terminal, ESC ( 0
// switches its character set), then a lone ESC. The 8-bit forms (U+009B CSI, U+009D OSC) come first.
const ANSI_SEQUENCE =
  /\u009b[0-?]*[ -/]*[@-~]|\u009d[^\u0007\u009c]*[\u0007\u009c]?|\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[PX^_][^\u001b]*(?:\u001b\\)?|\u001b[ -/]*[0-~]|\u001b/g;
// C0 controls except tab and newline, DEL, C1 controls.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const CONTROL_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g; // labels are one line: no LS/PS either
// Bidi embeddings, overrides and isolates; marks; zero-width characters; BOM; soft hyphen, combining
// grapheme joiner and Mongolian vowel separator (all render as nothing).
const INVISIBLE = /[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]|\u034f/g;
// Unicode tag characters (U+E0000–U+E007F) and supplementary variation selectors (U+E0100–U+E01EF), both
// used to smuggle invisible instructions.
const TAGS = /[\u{e0000}-\u{e007f}]|[\u{e0100}-\u{e01ef}]/gu;

/** For descriptions, prompt text and error messages: keeps tabs and newlines. */
export function cleanText(text: string): string {
  return text.replace(ANSI_SEQUENCE, '').replace(CONTROL, '').replace(INVISIBLE, '').replace(TAGS, '');
}

/** For names and titles: single line, nothing invisible. */
export function cleanLabel(text: string): string {
  return text.replace(ANSI_SEQUENCE, '').replace(CONTROL_ALL, '').replace(INVISIBLE, '').replace(TAGS, '');
}

/** For tool result text: content stays, terminal escape sequences go. */
export function stripTerminalEscapes(text: string): string {
  return text.replace(ANSI_SEQUENCE, '');
}

/** Downstream tool and prompt names the gateway accepts (SEP-986); anything else is refused and logged. */
export const DOWNSTREAM_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

/** A prompts/get result: its description and the text of its messages are prompt text, cleaned like descriptions. */
export function cleanPromptResult<T extends { description?: string; messages: readonly unknown[] }>(result: T): T {
  const messages = result.messages.map((message) => {
    const content = (message as { content?: { type?: unknown; text?: unknown } }).content;
    if (content?.type !== 'text' || typeof content.text !== 'string') return message;
    return { ...(message as object), content: { ...content, text: cleanText(content.text) } };
  });
  return {
    ...result,
    ...(result.description !== undefined && { description: cleanText(result.description) }),
    messages,
  };
}

// A raw character cleaning removes, or the JSON escape of a control other than newline and tab.
const LOG_SUSPECT =
  /\\u00[01][0-9a-fA-F]|\\[bfr]|\\u007[fF]|[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]|\u034f|[\u{e0000}-\u{e007f}]|[\u{e0100}-\u{e01ef}]/u;

/**
 * One serialized (JSON) log line with every string in it cleaned like a description: the last line of
 * defence for downstream text that reaches a log field without being cleaned where it was logged (an
 * error message from a failed connect, say). Lines without anything suspect are returned as they are.
 */
export function cleanLogLine(line: string): string {
  if (!LOG_SUSPECT.test(line)) return line;
  const end = line.endsWith('\n') ? '\n' : '';
  try {
    // The one JSON walk (src/model/json-walk.ts): too deep, and the whole line is cleaned as text instead.
    return `${JSON.stringify(mapJson(JSON.parse(line), { string: cleanText, key: cleanLabel }))}${end}`;
  } catch {
    // Not JSON, or nested too deep to walk: cleaned as text, JSON escapes of controls included.
    return cleanText(line).replace(JSON_CONTROL_ESCAPE, '');
  }
}

const JSON_CONTROL_ESCAPE = /\\u00[01][0-9a-fA-F]|\\u00[89][0-9a-fA-F]|\\u007[fF]/g;
