import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type {
  JsonSchemaType,
  JsonSchemaValidator,
  jsonSchemaValidator,
} from '@modelcontextprotocol/sdk/validation/types.js';

// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

/**
 * The JSON Schema validators of every SDK `Client` and `Server` the gateway makes (one of each per agent
 * session). Left alone, the SDK gives each its own Ajv instance with its formats, and a client compiles
 * the output schema of every tool in every list it fetches, although the gateway never uses those
 * validators (it forwards results; the agent's client checks them): per session that was memory and
 * compile time for nothing (docs/performance.md).
 *
 * Here a validator is compiled when it is first used, by one Ajv instance made when first needed, with
 * the SDK's settings. Ajv is told to forget every schema as soon as one is compiled (or fails to): a shared instance
 * would otherwise keep every schema object it ever saw, and, looking schemas up by `$id`, could
 * validate one server's data against another server's schema of the same id.
 */
export class LazySchemaValidator implements jsonSchemaValidator {
  private ajv: Ajv | undefined;

  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    let compiled: ValidateFunction | undefined;
    return (input) => {
      compiled ??= this.compile(schema);
      if (compiled(input)) return { valid: true, data: input as T, errorMessage: undefined };
      return { valid: false, data: undefined, errorMessage: this.instance().errorsText(compiled.errors) };
    };
  }

  private compile(schema: JsonSchemaType): ValidateFunction {
    const ajv = this.instance();
    try {
      return ajv.compile(schema as object);
    } finally {
      // Everything but the meta-schemas, whether the compile worked or not: the schema, nested `$id`s,
      // the cache. Validators already compiled keep working.
      ajv.removeSchema();
    }
  }

  private instance(): Ajv {
    if (!this.ajv) {
      // The SDK's defaults (validation/ajv-provider.js): formats checked, schemas not, every error reported.
      this.ajv = new Ajv({ strict: false, validateFormats: true, validateSchema: false, allErrors: true });
      addFormats(this.ajv);
    }
    return this.ajv;
  }
}

/** One per process: shared by every session's SDK client and server. */
export const sharedSchemaValidator = new LazySchemaValidator();
