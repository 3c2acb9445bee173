/**
 * MCP protocol eras, newest first, each from the first protocol version that belongs to it. Every
 * version up to 2025-11-25 (initialize, sessions, SDK 1.x) is the 2025 era; the stateless protocol
 * (per-request `_meta`, src/ingress/stateless-*.ts) is the 2026 era. Nothing else maps versions to
 * eras, and the metrics' `era` label takes its values from here.
 */
const ERA_STARTS = [
  { era: '2026', from: '2026-07-28' },
  { era: '2025', from: '' },
] as const;

export type ProtocolEra = (typeof ERA_STARTS)[number]['era'];

/** Every era a label or record can carry, newest first. */
export const PROTOCOL_ERAS: readonly ProtocolEra[] = ERA_STARTS.map((start) => start.era);

/**
 * The era of a negotiated protocol version (`YYYY-MM-DD`, compared as text). A session that has not
 * negotiated one (no initialize yet) is in the oldest era.
 */
export function protocolEra(version: string | undefined): ProtocolEra {
  if (version !== undefined) {
    for (const start of ERA_STARTS) if (version >= start.from) return start.era;
  }
  return ERA_STARTS[ERA_STARTS.length - 1]!.era;
}
