// A small JSON Schema validator for LLM answers: the subset the generators use (type, properties,
// required, additionalProperties, items, minItems, maxItems, minLength, enum). Errors name the JSON
// path, e.g. `$.paraphrases[1].query: expected string, got number`.

export type JsonType = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

export interface JsonSchema {
  type?: JsonType | JsonType[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  enum?: readonly (string | number | boolean | null)[];
  description?: string;
}

function typeOf(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v as JsonType;
}

function typeMatches(actual: JsonType, expected: JsonType): boolean {
  return actual === expected || (expected === 'number' && actual === 'integer');
}

/** Returns the list of violations (empty when `value` conforms). */
export function validateJson(value: unknown, schema: JsonSchema, path = '$'): string[] {
  const errors: string[] = [];
  const actual = typeOf(value);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(actual, t))) {
      errors.push(`${path}: expected ${types.join(' or ')}, got ${actual}`);
      return errors;
    }
  }
  if (schema.enum && !schema.enum.includes(value as string)) {
    errors.push(`${path}: expected one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${JSON.stringify(value)}`);
  }
  if (actual === 'string' && schema.minLength !== undefined && Array.from(value as string).length < schema.minLength) {
    errors.push(`${path}: shorter than ${schema.minLength} characters`);
  }
  if (actual === 'array') {
    const arr = value as unknown[];
    if (schema.minItems !== undefined && arr.length < schema.minItems) errors.push(`${path}: expected at least ${schema.minItems} items, got ${arr.length}`);
    if (schema.maxItems !== undefined && arr.length > schema.maxItems) errors.push(`${path}: expected at most ${schema.maxItems} items, got ${arr.length}`);
    if (schema.items) arr.forEach((item, i) => errors.push(...validateJson(item, schema.items!, `${path}[${i}]`)));
  }
  if (actual === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) errors.push(`${path}: missing required property "${key}"`);
    for (const [key, v] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (sub) errors.push(...validateJson(v, sub, `${path}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property "${key}"`);
    }
  }
  return errors;
}
