// One error type for everything the server answers with a non-2xx status, and the two wire shapes it
// is rendered in: OpenAI's `{error:{message,type,param,code}}` on /v1/* and TEI's `{error, error_type}`
// on the TEI routes (TEI's router: `ErrorResponse { error: String, error_type: ErrorType }`).

export type ServeErrorKind =
  | 'validation' // a field has the wrong type/value (400)
  | 'empty' // an empty batch (400)
  | 'too_long' // an input has more tokens than the model takes and truncation is off (400 / 413)
  | 'payload_too_large' // request body over --payload-limit (413)
  | 'unsupported_media' // Content-Type is not JSON (415)
  | 'auth' // missing or wrong API key (401)
  | 'not_found' // unknown route or model (404)
  | 'overloaded' // queue full (429 + Retry-After)
  | 'timeout' // not answered within --request-timeout (503)
  | 'unavailable' // shutting down (503)
  | 'model' // the model failed on this request's inputs (500)
  | 'internal'; // anything else (500)

export class ServeError extends Error {
  constructor(
    readonly status: number,
    readonly kind: ServeErrorKind,
    message: string,
    /** The request field at fault, as the client wrote it (e.g. "input[3]"), or null. */
    readonly param: string | null = null,
    /** A machine-readable code for OpenAI's `code` field, or null. */
    readonly code: string | null = null,
    /** Seconds for a Retry-After header (429/503). */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'ServeError';
  }
}

/** A 400 naming the field that is wrong. */
export function invalidField(param: string, message: string, code: string | null = null): ServeError {
  return new ServeError(400, 'validation', `${param}: ${message}`, param, code);
}

/** The 503 of a request not answered within --request-timeout. */
export function requestTimeout(ms: number, retryAfterS: number): ServeError {
  return new ServeError(503, 'timeout', `the request was not answered within ${ms / 1000} s (--request-timeout)`, null, 'timeout', retryAfterS);
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const OPENAI_TYPE: Record<ServeErrorKind, string> = {
  validation: 'invalid_request_error',
  empty: 'invalid_request_error',
  too_long: 'invalid_request_error',
  payload_too_large: 'invalid_request_error',
  unsupported_media: 'invalid_request_error',
  auth: 'invalid_request_error',
  not_found: 'invalid_request_error',
  overloaded: 'rate_limit_error',
  timeout: 'server_error',
  unavailable: 'server_error',
  model: 'server_error',
  internal: 'server_error',
};

export function openAIErrorBody(e: ServeError): OpenAIErrorBody {
  return { error: { message: e.message, type: OPENAI_TYPE[e.kind], param: e.param, code: e.code } };
}

/** TEI's ErrorType values, plus three it has no name for (it answers those with an empty body). */
export type TeiErrorType =
  | 'Unhealthy'
  | 'Backend'
  | 'Overloaded'
  | 'Validation'
  | 'Tokenizer'
  | 'Empty'
  | 'Unauthorized'
  | 'NotFound'
  | 'Timeout';

const TEI_TYPE: Record<ServeErrorKind, TeiErrorType> = {
  validation: 'Validation',
  empty: 'Empty',
  too_long: 'Validation',
  payload_too_large: 'Validation',
  unsupported_media: 'Validation',
  auth: 'Unauthorized',
  not_found: 'NotFound',
  overloaded: 'Overloaded',
  timeout: 'Timeout',
  unavailable: 'Unhealthy',
  model: 'Backend',
  internal: 'Backend',
};

export interface TeiErrorBody {
  error: string;
  error_type: TeiErrorType;
}

export function teiErrorBody(e: ServeError): TeiErrorBody {
  return { error: e.message, error_type: TEI_TYPE[e.kind] };
}
