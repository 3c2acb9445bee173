// The checks of W3C trace context an agent sends in `_meta` (issue 18): what travels downstream, what is dropped.
import { describe, expect, it } from 'vitest';
import { checkedTraceMeta, validBaggage, validTracestate } from '../../src/observe/trace-context.js';

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('trace context checks', () => {
  it('keeps a tracestate of at most 32 well-formed members and 512 characters', () => {
    expect(validTracestate('congo=t61rcWkgMzE, rojo=00f067aa0ba902b7')).toBeDefined();
    expect(validTracestate('tenant@vendor=x')).toBeDefined();
    expect(validTracestate(Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(','))).toBeDefined();
    expect(validTracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','))).toBeUndefined();
    expect(validTracestate(`a=${'x'.repeat(511)}`)).toBeUndefined();
    for (const bad of ['UPPER=x', 'novalue', 'a=b=c', 'a=x\n', 7])
      expect(validTracestate(bad), String(bad)).toBeUndefined();
  });

  it('keeps baggage of at most 8192 characters with well-formed members', () => {
    expect(validBaggage('userId=alice, serverNode=DF%2028;prop=1;flag')).toBeDefined();
    expect(validBaggage(`k=${'x'.repeat(8190)}`)).toBeDefined();
    expect(validBaggage(`k=${'x'.repeat(8191)}`)).toBeUndefined();
    for (const bad of ['no value', 'k=a b', 'k="q"', 'k=v\r\nX: y', '', null])
      expect(validBaggage(bad), String(bad)).toBeUndefined();
  });

  it('drops each malformed key from _meta, a tracestate without a valid traceparent, and leaves other keys alone', () => {
    const other = { progressToken: 3, 'io.example/x': { y: 1 } };
    expect(checkedTraceMeta({ ...other, traceparent: PARENT, tracestate: 'a=b', baggage: 'k=v' })).toEqual({
      ...other,
      traceparent: PARENT,
      tracestate: 'a=b',
      baggage: 'k=v',
    });
    expect(checkedTraceMeta({ ...other, traceparent: 'bogus', tracestate: 'a=b', baggage: 'k=v' })).toEqual({
      ...other,
      baggage: 'k=v',
    });
    expect(checkedTraceMeta({ ...other, traceparent: PARENT, tracestate: 'A=b', baggage: { k: 'v' } })).toEqual({
      ...other,
      traceparent: PARENT,
    });
    const untouched = { ...other };
    expect(checkedTraceMeta(untouched)).toBe(untouched);
  });
});
