// The cleaners added for issue 5: log lines as the logger serializes them (the last line of defence for
// downstream text logged without being cleaned first), and prompts/get results.
import { describe, expect, it } from 'vitest';
import { cleanLogLine, cleanPromptResult } from '../../src/model/sanitize.js';

const ESC = '\u001b';
const line = (fields: Record<string, unknown>) =>
  `${JSON.stringify({ level: 40, msg: 'downstream unavailable', ...fields })}\n`;

describe('cleanLogLine', () => {
  it.each([
    ['ANSI in a field', line({ reason: `${ESC}[31mred${ESC}[0m` }), line({ reason: 'red' })],
    ['OSC 52 in the message', line({ msg: `x${ESC}]52;c;Zm9v\u0007y` }), line({ msg: 'xy' })],
    [
      'bidi override and zero-width, nested',
      line({ err: { detail: ['a\u202eb\u200bc'] } }),
      line({ err: { detail: ['abc'] } }),
    ],
    ['tag characters', line({ reason: `ok${String.fromCodePoint(0xe0041)}` }), line({ reason: 'ok' })],
    ['carriage return', line({ reason: 'shown\rhidden' }), line({ reason: 'shownhidden' })],
    ['C1 control (NEL)', line({ reason: 'a\u0085b' }), line({ reason: 'ab' })],
    ['a hidden character in a key', line({ ['k\u200by']: 1 }), line({ ky: 1 })],
  ])('%s', (_name, input, expected) => {
    expect(cleanLogLine(input)).toBe(expected);
  });

  it.each([
    ['an ordinary line', line({ reason: 'connection refused', count: 3 })],
    ['newlines and tabs', line({ stack: 'Error: x\n    at f (a.js:1)\tend' })],
    ['accents, CJK, emoji, a Cyrillic look-alike', line({ detail: 'Café 東京 👍 fixture_pіd' })],
  ])('leaves %s exactly as it was', (_name, input) => {
    expect(cleanLogLine(input)).toBe(input);
  });

  it('a field nested deeper than the walk goes (300 levels) is cleaned too, never passed on', () => {
    let nested: unknown = `deep${ESC}[2J\u202e`;
    for (let i = 0; i < 300; i++) nested = { a: nested };
    const out = cleanLogLine(line({ err: nested }));
    expect(out).toContain('deep');
    for (const hidden of ['\\u001b', ESC, '\u202e']) expect(out).not.toContain(hidden);
  });

  it('a line that is not JSON is cleaned as text', () => {
    expect(cleanLogLine(`plain \u202eline${ESC}[2K\n`)).toBe('plain line\n');
  });
});

describe('cleanPromptResult', () => {
  it('cleans the description and text messages, keeps other content as it is', () => {
    const image = { role: 'user', content: { type: 'image', data: 'AAAA', mimeType: 'image/png' } };
    const result = cleanPromptResult({
      description: `Sum${ESC}[8m hidden`,
      messages: [
        { role: 'user', content: { type: 'text', text: `Do\u202e this\u200b.${String.fromCodePoint(0xe0069)}` } },
        image,
      ],
    });
    expect(result).toEqual({
      description: 'Sum hidden',
      messages: [{ role: 'user', content: { type: 'text', text: 'Do this.' } }, image],
    });
  });
});
