import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

/**
 * Firecracker's own OpenAPI (Swagger 2.0) description, release v1.16.1, turned into a request validator:
 * method + path template + JSON body against the operation's body schema. Firecracker deserialises with
 * serde's deny_unknown_fields, so unknown properties are rejected here too (additionalProperties: false).
 */
export const FIRECRACKER_SPEC_FILE = path.join(import.meta.dirname, '..', 'firecracker-api-v1.16.1.yaml');

interface Operation {
  method: string;
  template: string;
  regex: RegExp;
  paramNames: string[];
  operationId: string;
  bodyRequired: boolean;
  validate: ValidateFunction | null;
}

export type RequestVerdict =
  | { ok: true; operationId: string; params: Record<string, string> }
  | { ok: false; status: 400 | 404 | 405; errors: string[] };

function closeObjects(schema: unknown): void {
  if (!schema || typeof schema !== 'object') return;
  const s = schema as Record<string, unknown>;
  if (s.properties && s.additionalProperties === undefined) s.additionalProperties = false;
  for (const v of Object.values(s)) closeObjects(v);
}

export class FirecrackerSpec {
  private readonly ops: Operation[] = [];

  constructor(file = FIRECRACKER_SPEC_FILE) {
    const doc = parse(readFileSync(file, 'utf8')) as {
      paths: Record<string, Record<string, { operationId: string; parameters?: { in: string; required?: boolean; schema?: unknown }[] }>>;
      definitions: Record<string, unknown>;
    };
    const definitions = structuredClone(doc.definitions);
    closeObjects(definitions);
    const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
    ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
    ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
    ajv.addSchema({ $id: 'fc', definitions });
    for (const [template, methods] of Object.entries(doc.paths)) {
      const paramNames: string[] = [];
      const regex = new RegExp(
        '^' + template.replace(/\{(\w+)\}/g, (_m, n: string) => (paramNames.push(n), '([^/]+)')) + '$',
      );
      for (const [method, op] of Object.entries(methods)) {
        const body = op.parameters?.find((p) => p.in === 'body');
        let validate: ValidateFunction | null = null;
        if (body?.schema) {
          const schema = JSON.parse(JSON.stringify(body.schema).replaceAll('"#/definitions/', '"fc#/definitions/'));
          closeObjects(schema);
          validate = ajv.compile(schema);
        }
        this.ops.push({ method: method.toUpperCase(), template, regex, paramNames, operationId: op.operationId, bodyRequired: !!body?.required, validate });
      }
    }
  }

  /** Check one request as Firecracker's API server would before acting on it. */
  check(method: string, urlPath: string, body: unknown): RequestVerdict {
    const candidates = this.ops.filter((o) => o.regex.test(urlPath));
    if (candidates.length === 0) return { ok: false, status: 404, errors: [`no such path ${urlPath}`] };
    const op = candidates.find((o) => o.method === method);
    if (!op) return { ok: false, status: 405, errors: [`${method} not allowed on ${urlPath}`] };
    const m = op.regex.exec(urlPath)!;
    const params = Object.fromEntries(op.paramNames.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
    if (op.validate) {
      if (body === undefined) {
        if (op.bodyRequired) return { ok: false, status: 400, errors: [`${op.operationId}: body required`] };
      } else if (!op.validate(body)) {
        return {
          ok: false,
          status: 400,
          errors: (op.validate.errors ?? []).map((e) => `${op.operationId}${e.instancePath} ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`),
        };
      }
    } else if (body !== undefined) {
      return { ok: false, status: 400, errors: [`${op.operationId} takes no body`] };
    }
    return { ok: true, operationId: op.operationId, params };
  }
}
