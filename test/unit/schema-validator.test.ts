// The JSON Schema validator shared by every session's SDK client and server (src/downstream/schema-validator.ts):
// nothing is compiled until a validator is used, it validates like the SDK's own (formats included, every
// error named), and two servers' schemas with the same $id never borrow each other's rules.
import { describe, expect, it } from 'vitest';
import { LazySchemaValidator } from '../../src/downstream/schema-validator.js';

describe('shared lazy JSON Schema validator', () => {
  it('compiles a schema only when its validator is first used', () => {
    const validator = new LazySchemaValidator();
    // Not a schema Ajv can compile: getting the validator must not try.
    const broken = validator.getValidator({ type: 'no-such-type' } as never);
    expect(() => broken({})).toThrow(/type/);
  });

  it('validates with formats and reports every error', () => {
    const validator = new LazySchemaValidator();
    const check = validator.getValidator<{ email: string; n: number }>({
      type: 'object',
      properties: { email: { type: 'string', format: 'email' }, n: { type: 'integer', minimum: 1 } },
      required: ['email', 'n'],
    });
    expect(check({ email: 'a@example.com', n: 2 })).toEqual({
      valid: true,
      data: { email: 'a@example.com', n: 2 },
      errorMessage: undefined,
    });
    const bad = check({ email: 'not an address', n: 0 });
    expect(bad.valid).toBe(false);
    expect(bad.errorMessage).toMatch(/email/);
    expect(bad.errorMessage).toMatch(/>= 1/);
  });

  it('keeps schemas of one $id from two servers apart', () => {
    const validator = new LazySchemaValidator();
    const first = validator.getValidator({
      $id: 'urn:shared:result',
      type: 'object',
      properties: { a: { type: 'string' } },
      required: ['a'],
    });
    const second = validator.getValidator({
      $id: 'urn:shared:result',
      type: 'object',
      properties: { b: { type: 'number' } },
      required: ['b'],
    });
    expect(first({ a: 'x' }).valid).toBe(true);
    expect(second({ b: 1 }).valid).toBe(true);
    expect(second({ a: 'x' }).valid).toBe(false);
    expect(first({ b: 1 }).valid).toBe(false);
  });

  it('compiles a schema once however often its validator runs', () => {
    const validator = new LazySchemaValidator();
    const schema = { type: 'object', properties: { n: { type: 'number' } } };
    const check = validator.getValidator(schema);
    for (let i = 0; i < 1000; i++) expect(check({ n: i }).valid).toBe(true);
    // Ajv was told to forget the schema after compiling it: compiling it again is allowed, not a clash.
    expect(validator.getValidator(schema)({ n: 'x' }).valid).toBe(false);
  });

  it('a schema that fails to compile leaves nothing behind: its $id is free for the next one', () => {
    const validator = new LazySchemaValidator();
    const broken = validator.getValidator({ $id: 'urn:x:result', type: 'no-such-type' } as never);
    expect(() => broken({})).toThrow();
    const fine = validator.getValidator({ $id: 'urn:x:result', type: 'string' });
    expect(fine('ok').valid).toBe(true);
  });

  it('forgets nested $ids too: a later schema cannot borrow one', () => {
    const validator = new LazySchemaValidator();
    const first = validator.getValidator({
      $id: 'urn:x:outer',
      type: 'object',
      properties: { a: { $id: 'urn:x:nested', type: 'string' } },
    });
    expect(first({ a: 'x' }).valid).toBe(true);
    // This schema refers to an id it does not define: it must fail to compile, not resolve to the first one's part.
    const borrower = validator.getValidator({ type: 'object', properties: { b: { $ref: 'urn:x:nested' } } });
    expect(() => borrower({ b: 'x' })).toThrow(/resolve|reference/i);
    expect(first({ a: 1 }).valid).toBe(false);
  });
});
