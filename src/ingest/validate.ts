import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { SchemaValidationError, UnknownWebhookTypeError, type EmberError, type ErrorDetail } from '../errors.js';
import { clip, previewJson } from '../lib/preview.js';
import type { TypedPayload, WebhookType } from '../model/webhooks.js';

// ajv-formats is CommonJS: under NodeNext its default import is module.exports, whose `default` is the plugin.
const addFormats = addFormatsModule.default;

/** The package's own schemas/ folder (the same path from src/ingest and dist/ingest). */
export const DEFAULT_SCHEMAS_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));

/** Which schema file ($id) applies to which webhook type. */
export const SCHEMA_ID: Record<WebhookType, string> = {
  red_flag: 'red-flag.json',
  low_score: 'low-score.json',
  completion: 'completion.json',
  workflow: 'workflow-completion.json',
};

/** README "Which schema": alert_type picks red flag / low score; trigger_reason completed_action is a completion, a workflow one when data.output_schema is present. */
export function classify(payload: Record<string, unknown>): WebhookType | undefined {
  if (payload['alert_type'] === 'red_flag') return 'red_flag';
  if (payload['alert_type'] === 'low_score') return 'low_score';
  if (payload['trigger_reason'] === 'completed_action') {
    const data = payload['data'];
    const isObject = typeof data === 'object' && data !== null && !Array.isArray(data);
    return isObject && (data as Record<string, unknown>)['output_schema'] !== undefined ? 'workflow' : 'completion';
  }
  return undefined;
}

export type ValidationOutcome = { ok: true; typed: TypedPayload } | { ok: false; type: WebhookType | undefined; error: EmberError };

const MAX_DETAILS = 50;
/** A 422 echoes paths and values of an untrusted body: each is cut to a size that cannot blow up the answer or the log. */
const MAX_PATH_CHARS = 300;
const bounded = (d: ErrorDetail): ErrorDetail => ({ ...d, path: clip(d.path, MAX_PATH_CHARS), message: clip(d.message, MAX_PATH_CHARS) });

/** A schema node with the sub-validators used to explain a failure one branch at a time. */
interface Node {
  validate: ValidateFunction;
  required: string[];
  properties: Map<string, Node> | undefined;
}

type SchemaJson = { properties?: Record<string, SchemaJson>; required?: string[]; $ref?: string };

const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

function firstError(errors: ErrorObject[] | null | undefined, base: string): ErrorDetail {
  const e = errors?.[0];
  if (!e) return { path: base || '/', message: 'is invalid' };
  if (e.keyword === 'required') {
    const missing = String((e.params as { missingProperty?: unknown }).missingProperty);
    return { path: `${base}${e.instancePath}/${escapePointer(missing)}`, message: 'is required', keyword: 'required' };
  }
  return { path: `${base}${e.instancePath}` || '/', message: e.message ?? 'is invalid', keyword: e.keyword };
}

/**
 * Validates a parsed payload against the schema of its type. ajv runs with
 * allErrors off (its security guidance for untrusted input); when a payload
 * fails, each branch (top-level property, and one level below for inline
 * objects such as `data`) is re-checked on its own so that the 422 lists the
 * first problem of every branch instead of only the very first one.
 */
export function createValidator(options: { schemasDir?: string } = {}) {
  const dir = options.schemasDir ?? DEFAULT_SCHEMAS_DIR;
  const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv);
  const docs = new Map<string, SchemaJson>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as SchemaJson & { $id?: string };
    const id = schema.$id ?? file;
    ajv.addSchema(schema, schema.$id ? undefined : file);
    docs.set(id, schema);
  }

  function node(id: string, pointer: string, json: SchemaJson, depth: number): Node {
    const validate = ajv.getSchema(pointer ? `${id}#${pointer}` : id);
    if (!validate) throw new Error(`schema ${id}#${pointer} not found`);
    const props = json.$ref === undefined && json.properties && depth < 2 ? json.properties : undefined;
    return {
      validate,
      required: json.required ?? [],
      properties: props && new Map(Object.entries(props).map(([k, sub]) => [k, node(id, `${pointer}/properties/${escapePointer(k)}`, sub, depth + 1)])),
    };
  }

  const roots = {} as Record<WebhookType, Node>;
  for (const [type, id] of Object.entries(SCHEMA_ID) as [WebhookType, string][]) {
    const json = docs.get(id);
    if (!json) throw new Error(`missing schema ${id} in ${dir}`);
    roots[type] = node(id, '', json, 0);
  }

  function explain(n: Node, value: unknown, path: string, out: ErrorDetail[]): void {
    if (out.length >= MAX_DETAILS || n.validate(value)) return;
    const before = out.length;
    if (n.properties && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const obj = value as Record<string, unknown>;
      for (const r of n.required) {
        if (out.length >= MAX_DETAILS) return;
        if (!Object.hasOwn(obj, r)) out.push({ path: `${path}/${escapePointer(r)}`, message: 'is required', keyword: 'required' });
      }
      for (const [k, child] of n.properties) {
        if (Object.hasOwn(obj, k)) explain(child, obj[k], `${path}/${escapePointer(k)}`, out);
      }
    }
    // Nothing found branch by branch (a type or a rule on the whole object): its first error.
    if (out.length === before) out.push(firstError(n.validate.errors, path));
  }

  return {
    dir,
    validate(payload: Record<string, unknown>): ValidationOutcome {
      const type = classify(payload);
      if (type === undefined) {
        const at = payload['alert_type'];
        const tr = payload['trigger_reason'];
        const details: ErrorDetail[] =
          at === undefined && tr === undefined
            ? [{ path: '/', message: 'has neither alert_type nor trigger_reason' }]
            : [
                ...(at !== undefined ? [{ path: '/alert_type', message: `must be "red_flag" or "low_score" (got ${previewJson(at)})` }] : []),
                ...(tr !== undefined ? [{ path: '/trigger_reason', message: `must be "completed_action" (got ${previewJson(tr)})` }] : []),
              ];
        return { ok: false, type, error: new UnknownWebhookTypeError(details) };
      }
      const root = roots[type];
      if (root.validate(payload)) {
        // The dedupe key must survive UTF-8 (SQLite, files): a lone surrogate cannot, and two ids that
        // differ only by theirs would read back the same. JSON Schema cannot say this; it is a schema failure.
        const id = payload['webhook_id'] as string;
        if (!(id as string & { isWellFormed(): boolean }).isWellFormed()) {
          return { ok: false, type, error: new SchemaValidationError(`the ${type.replace('_', ' ')} webhook does not match its schema (${SCHEMA_ID[type]})`, [{ path: '/webhook_id', message: 'must be well-formed Unicode text (it holds a lone surrogate)' }], type) };
        }
        return { ok: true, typed: { type, payload } as TypedPayload };
      }
      const details: ErrorDetail[] = [];
      explain(root, payload, '', details);
      return { ok: false, type, error: new SchemaValidationError(`the ${type.replace('_', ' ')} webhook does not match its schema (${SCHEMA_ID[type]})`, details.map(bounded), type) };
    },
  };
}
export type Validator = ReturnType<typeof createValidator>;
