// The one mapping from a negotiated protocol version to the era a metric labels it with.
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_ERAS, protocolEra } from '../../src/model/protocol-era.js';

describe('protocolEra', () => {
  it.each([
    ['2026-07-28', '2026'],
    ['2025-11-25', '2025'],
    ['2025-06-18', '2025'],
    ['2025-03-26', '2025'],
    ['2024-11-05', '2025'],
    ['2024-10-07', '2025'],
    [undefined, '2025'],
  ])('%s is in the %s era', (version, era) => {
    expect(protocolEra(version)).toBe(era);
  });

  it('maps every version the SDK 1.x can negotiate to the 2025 era; the eras are listed newest first', () => {
    for (const version of [LATEST_PROTOCOL_VERSION, ...SUPPORTED_PROTOCOL_VERSIONS])
      expect(protocolEra(version)).toBe('2025');
    expect(PROTOCOL_ERAS).toEqual(['2026', '2025']);
  });

  it('gives any text an era from the list (a label value is never made from the input)', () => {
    for (const text of ['', 'garbage', '9999-99-99', '\u0000']) expect(PROTOCOL_ERAS).toContain(protocolEra(text));
  });
});
