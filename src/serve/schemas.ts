// JSON schemas of the request bodies (fastify validates them with ajv, type coercion off) and the
// conversion of ajv's first error into a message naming the field as the client wrote it.
import { ServeError, invalidField } from './errors.js';

const nullable = (t: string | string[]) => ({ type: [...(Array.isArray(t) ? t : [t]), 'null'] });

/** OpenAI `POST /v1/embeddings`, plus qzhou's extension fields. Unknown fields are refused, as OpenAI does. */
export const OPENAI_EMBEDDINGS_BODY = {
  type: 'object',
  required: ['input'],
  additionalProperties: false,
  properties: {
    input: { type: ['string', 'array'] },
    model: nullable('string'),
    encoding_format: { type: ['string', 'null'], enum: ['float', 'base64', null] },
    dimensions: { ...nullable('integer'), minimum: 1 },
    user: nullable('string'),
    // Extensions (not in OpenAI's API).
    prompt_name: nullable('string'),
    instruction: nullable('string'),
    input_type: { type: ['string', 'null'], enum: ['query', 'document', null] },
    truncate: nullable('boolean'),
    truncation_direction: { type: ['string', 'null'], enum: ['left', 'right', 'Left', 'Right', null] },
  },
} as const;

export interface OpenAIEmbeddingsBody {
  input: unknown;
  model?: string | null;
  encoding_format?: 'float' | 'base64' | null;
  dimensions?: number | null;
  user?: string | null;
  prompt_name?: string | null;
  instruction?: string | null;
  input_type?: 'query' | 'document' | null;
  truncate?: boolean | null;
  truncation_direction?: 'left' | 'right' | 'Left' | 'Right' | null;
}

/** TEI `POST /embed`, plus `instruction` and `input_type`. Unknown fields are ignored, as TEI does. */
export const TEI_EMBED_BODY = {
  type: 'object',
  required: ['inputs'],
  properties: {
    inputs: { type: ['string', 'array'] },
    normalize: nullable('boolean'),
    truncate: nullable('boolean'),
    truncation_direction: { type: ['string', 'null'], enum: ['left', 'right', 'Left', 'Right', null] },
    prompt_name: nullable('string'),
    dimensions: { ...nullable('integer'), minimum: 1 },
    // Extensions (not in TEI's API).
    instruction: nullable('string'),
    input_type: { type: ['string', 'null'], enum: ['query', 'document', null] },
  },
} as const;

export interface TeiEmbedBody {
  inputs: unknown;
  normalize?: boolean | null;
  truncate?: boolean | null;
  truncation_direction?: 'left' | 'right' | 'Left' | 'Right' | null;
  prompt_name?: string | null;
  dimensions?: number | null;
  instruction?: string | null;
  input_type?: 'query' | 'document' | null;
}

/** TEI's `POST /similarity`: cosine similarity of one sentence to each of several (sentence-similarity task). */
export const TEI_SIMILARITY_BODY = {
  type: 'object',
  required: ['inputs'],
  properties: {
    inputs: {
      type: 'object',
      required: ['source_sentence', 'sentences'],
      properties: {
        source_sentence: { type: 'string' },
        sentences: { type: 'array', items: { type: 'string' }, minItems: 1 },
      },
    },
    parameters: {
      type: ['object', 'null'],
      properties: {
        truncate: nullable('boolean'),
        truncation_direction: { type: ['string', 'null'], enum: ['left', 'right', 'Left', 'Right', null] },
        prompt_name: nullable('string'),
        // Extensions (not in TEI's API).
        instruction: nullable('string'),
        input_type: { type: ['string', 'null'], enum: ['query', 'document', null] },
      },
    },
  },
} as const;

export interface TeiSimilarityBody {
  inputs: { source_sentence: string; sentences: string[] };
  parameters?: {
    truncate?: boolean | null;
    truncation_direction?: 'left' | 'right' | 'Left' | 'Right' | null;
    prompt_name?: string | null;
    instruction?: string | null;
    input_type?: 'query' | 'document' | null;
  } | null;
}

/** The subset of an ajv error that fastify passes on. */
export interface AjvErrorLike {
  instancePath?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  message?: string;
}

/** "/input/3" → "input[3]". */
export function pointerToParam(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) && out ? `[${seg}]` : out ? `.${seg}` : seg;
  }
  return out;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

export function ajvErrorToServeError(e: AjvErrorLike): ServeError {
  const base = pointerToParam(e.instancePath ?? '');
  const join = (name: unknown) => (base ? `${base}.${String(name)}` : String(name));
  const p = e.params ?? {};
  switch (e.keyword) {
    case 'required':
      return invalidField(join(p.missingProperty), 'is required');
    case 'additionalProperties':
      return invalidField(join(p.additionalProperty), 'unrecognized request argument');
    case 'enum': {
      const allowed = (p.allowedValues as unknown[] | undefined)?.filter((v) => v !== null) ?? [];
      return invalidField(base, `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
    }
    case 'type': {
      const types = String(p.type ?? '').split(',');
      const words = types.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      if (!base) return new ServeError(400, 'validation', `the request body must be ${words === 'an object' ? 'a JSON object' : words}`);
      return invalidField(base, `must be ${words}`);
    }
    case 'minimum':
      return invalidField(base, `must be at least ${String(p.limit)}`);
    case 'minItems':
      return invalidField(base, `must have at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}`);
    default:
      return invalidField(base || 'body', e.message ?? 'is invalid');
  }
}
