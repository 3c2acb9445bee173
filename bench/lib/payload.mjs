// The echo payload, shared by the bench server and the checks on the client side so that every result
// is compared in full: `text` followed by a fixed filler, exactly `size` bytes of ASCII.
const FILLER_UNIT = 'abcdefghijklmnopqrstuvwxyz0123456789-';
let filler = '';

/** `text` padded with the filler to exactly `size` characters (ASCII, so also bytes). */
export function payloadFor(text, size) {
  const need = size - text.length;
  if (filler.length < need) filler = FILLER_UNIT.repeat(Math.ceil(need / FILLER_UNIT.length) + 1);
  return text + filler.slice(0, need);
}
