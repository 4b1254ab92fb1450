// Typed config fields: a default, a bound and a one-line description each, validated once at start-up.

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface FieldBase<T> {
  readonly default: T;
  readonly description: string;
  /** Returns the validated value or throws a ConfigError naming `path`, the value and what is accepted. */
  parse(raw: unknown, path: string): T;
  /** What is accepted, for --help and docs. */
  readonly accepts: string;
}
export type Field<T> = FieldBase<T>;
export type Section = Record<string, Field<unknown>>;
export type Infer<S extends Section> = { -readonly [K in keyof S]: S[K] extends Field<infer T> ? T : never };

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v) ?? v));

function numberField(kind: 'int' | 'float', def: number, min: number, max: number, description: string): Field<number> {
  const accepts = `${kind === 'int' ? 'an integer' : 'a number'} in [${min}, ${max}]`;
  return {
    default: def,
    description,
    accepts,
    parse(raw, path) {
      const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof v !== 'number' || !Number.isFinite(v) || (kind === 'int' && !Number.isInteger(v)) || v < min || v > max) {
        throw new ConfigError(`${path} must be ${accepts}; got ${show(raw)}`);
      }
      return v;
    },
  };
}

export const int = (def: number, min: number, max: number, description: string) => numberField('int', def, min, max, description);
export const float = (def: number, min: number, max: number, description: string) => numberField('float', def, min, max, description);

export function oneOf<const V extends readonly string[]>(values: V, def: V[number], description: string): Field<V[number]> {
  const accepts = `one of ${values.join(', ')}`;
  return {
    default: def,
    description,
    accepts,
    parse(raw, path) {
      if (typeof raw !== 'string' || !values.includes(raw)) throw new ConfigError(`${path} must be ${accepts}; got ${show(raw)}`);
      return raw as V[number];
    },
  };
}

export function bool(def: boolean, description: string): Field<boolean> {
  return {
    default: def,
    description,
    accepts: 'true or false',
    parse(raw, path) {
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      throw new ConfigError(`${path} must be true or false; got ${show(raw)}`);
    },
  };
}

/** A string; `pattern` (when given) must match the whole value. */
export function str(def: string, description: string, pattern?: RegExp): Field<string> {
  const accepts = pattern ? `a string matching ${pattern}` : 'a string';
  return {
    default: def,
    description,
    accepts,
    parse(raw, path) {
      if (typeof raw !== 'string' || (pattern && !pattern.test(raw))) throw new ConfigError(`${path} must be ${accepts}; got ${show(raw)}`);
      return raw;
    },
  };
}

/** A list of strings (e.g. NATS server URLs). */
export function strList(def: string[], description: string): Field<string[]> {
  return {
    default: def,
    description,
    accepts: 'a list of strings',
    parse(raw, path) {
      const v = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new ConfigError(`${path} must be a list of strings; got ${show(raw)}`);
      return [...v];
    },
  };
}

/** A nested mapping of fields (e.g. learner.lora), validated like a section; its default is every field's default. */
export function subsection<S extends Section>(spec: S, description: string): Field<Infer<S>> {
  const def = Object.fromEntries(Object.entries(spec).map(([k, f]) => [k, f.default])) as Infer<S>;
  const accepts = `a mapping of ${Object.entries(spec).map(([k, f]) => `${k} (${f.accepts})`).join(', ')}`;
  return {
    default: def,
    description,
    accepts,
    parse(raw, path) {
      if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) throw new ConfigError(`${path} must be ${accepts}; got ${show(raw)}`);
      return parseSection(spec, raw, path);
    },
  };
}

/** Validates one section: unknown keys are errors (a typo must not silently fall back to a default). */
export function parseSection<S extends Section>(spec: S, raw: unknown, path: string): Infer<S> {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${path} must be a mapping; got ${show(raw)}`);
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!Object.hasOwn(spec, key)) {
      throw new ConfigError(`unknown config key ${path}.${key}; accepted keys in ${path} are ${Object.keys(spec).join(', ')}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec)) {
    out[key] = Object.hasOwn(obj, key) ? field.parse(obj[key], `${path}.${key}`) : structuredClone(field.default);
  }
  return out as Infer<S>;
}
