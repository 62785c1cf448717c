// FhirService: the FHIR REST semantics of the test server, independent of HTTP.
//
// Medplum's FhirRouter (with our TestRepository) serves read, vread, history, create
// (incl. If-None-Exist), update, patch, delete and the search itself. This module fills
// the gaps: CapabilityStatement, paging with opaque cursor links, _count defaults,
// conditional update with proper 0/1/many semantics, update-as-create status 201, and a
// batch/transaction processor without Medplum's transaction size limits whose
// transactions are all-or-nothing.
import crypto from 'node:crypto';
import {
  getStatus,
  multipleMatches,
  normalizeOperationOutcome,
  OperationOutcomeError,
  parseSearchRequest,
} from '@medplum/core';
import { FhirRouter } from '@medplum/fhir-router';
import { TestRepository } from './repo.mjs';
import { buildCapabilityStatement, initSchema, isR4ResourceType } from './schema.mjs';

export const MAX_PAGE_SIZE = 1000;
const MAX_CURSORS = 100000;
const PAGING_PARAMS = new Set(['_count', '_offset', '_cursor']);

const STATUS_TEXT = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function statusLine(status) {
  return STATUS_TEXT[status] ? `${status} ${STATUS_TEXT[status]}` : String(status);
}

/** Build an error OperationOutcome. */
export function outcome(code, message, severity = 'error') {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, details: { text: message }, diagnostics: message }],
  };
}

/** Copy the validator's (or any) issue text into issue.diagnostics so clients find it there too. */
export function withDiagnostics(oo) {
  const copy = { ...oo, issue: (oo.issue ?? []).map((i) => ({ ...i })) };
  for (const issue of copy.issue) {
    if (!issue.diagnostics && issue.details?.text) {
      issue.diagnostics = issue.expression?.length
        ? `${issue.details.text} (${issue.expression.join(', ')})`
        : issue.details.text;
    }
  }
  return copy;
}

class HttpError extends Error {
  constructor(status, oo) {
    super(oo.issue?.[0]?.diagnostics ?? `HTTP ${status}`);
    this.status = status;
    this.outcome = oo;
  }
}

function fail(status, code, message) {
  return new HttpError(status, outcome(code, message));
}

/** Result of one FHIR interaction: { status, resource?, headers? }. */
function result(status, resource, headers) {
  return { status, resource, headers: headers ?? {} };
}

function errorResult(err) {
  if (err instanceof HttpError) {
    return result(err.status, withDiagnostics(err.outcome));
  }
  const oo = normalizeOperationOutcome(err);
  let status = getStatus(oo);
  if (!(err instanceof OperationOutcomeError) && !(err?.resourceType === 'OperationOutcome')) {
    // An unexpected exception (programming error in the server or Medplum): report 500.
    status = 500;
  }
  return result(status, withDiagnostics(oo));
}

function isOkStatus(status) {
  return status >= 200 && status < 300;
}

function parseQuery(search) {
  const params = new URLSearchParams(search ?? '');
  return [...params.entries()];
}

function queryString(pairs) {
  const params = new URLSearchParams();
  for (const [k, v] of pairs) {
    params.append(k, v);
  }
  return params.toString();
}

function queryObject(pairs) {
  const obj = Object.create(null);
  for (const [k, v] of pairs) {
    if (obj[k] === undefined) {
      obj[k] = v;
    } else if (Array.isArray(obj[k])) {
      obj[k].push(v);
    } else {
      obj[k] = [obj[k], v];
    }
  }
  return obj;
}

/** Simple FIFO async mutex: all writes (and transactions/batches) are serialised. */
class Mutex {
  constructor() {
    this.tail = Promise.resolve();
  }

  run(fn) {
    const next = this.tail.then(fn, fn);
    this.tail = next.then(
      () => undefined,
      () => undefined
    );
    return next;
  }
}

export class FhirService {
  constructor({ pageSize = 50 } = {}) {
    initSchema();
    this.pageSize = Math.min(Math.max(1, pageSize), MAX_PAGE_SIZE);
    this.repo = new TestRepository();
    this.router = new FhirRouter();
    this.capability = buildCapabilityStatement();
    this.cursors = new Map();
    this.mutex = new Mutex();
  }

  /** Clear data and paging cursors. */
  reset() {
    this.repo.clear();
    this.cursors.clear();
  }

  /** Make every next link issued so far answer 410 Gone. Returns how many were expired. */
  expireLinks() {
    let n = 0;
    for (const cursor of this.cursors.values()) {
      if (!cursor.expired) {
        cursor.expired = true;
        n++;
      }
    }
    return n;
  }

  /**
   * Handle one FHIR request.
   * @param {object} req - { method, path (after /fhir, e.g. "/Patient/1"), search (query without "?"),
   *   headers (lower-case names), body (parsed JSON / form pairs or undefined), baseUrl ("http://host:port/fhir") }
   * @returns {Promise<{status:number, resource?:object, headers:object}>}
   */
  async handle(req) {
    if (req.method === 'GET' || req.method === 'HEAD') {
      return this.dispatch(req);
    }
    return this.mutex.run(() => this.dispatch(req));
  }

  async dispatch(req) {
    try {
      return await this.route(req);
    } catch (err) {
      return errorResult(err);
    }
  }

  async route(req) {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    let segments;
    try {
      segments = (req.path ?? '').split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw fail(400, 'invalid', 'Malformed URL path');
    }
    const search = req.search ?? '';

    if (segments.length === 0) {
      if (method === 'POST') {
        return this.processBundle(req.body, req);
      }
      throw fail(400, 'not-supported', 'System-level search is not supported; search a resource type');
    }
    if (segments[0] === 'metadata' && segments.length === 1) {
      if (method !== 'GET') {
        throw fail(405, 'not-supported', 'Method not allowed on metadata');
      }
      return result(200, this.capability);
    }
    if (segments[0] === '__page' && segments.length === 2 && method === 'GET') {
      return this.page(segments[1], req);
    }

    const [resourceType, id, third, vid] = segments;
    if (!isR4ResourceType(resourceType)) {
      throw fail(404, 'not-found', `Unknown resource type: ${resourceType}`);
    }

    if (segments.length === 1) {
      switch (method) {
        case 'GET':
          return this.searchType(resourceType, parseQuery(search), req);
        case 'POST':
          return this.create(resourceType, req);
        case 'PUT':
          return this.conditionalUpdate(resourceType, parseQuery(search), req);
        case 'DELETE':
        case 'PATCH':
          if (!search) {
            throw fail(400, 'required', `Conditional ${method} requires search parameters`);
          }
          return this.viaRouter(method, `${resourceType}?${search}`, req);
        default:
          throw fail(405, 'not-supported', `Method ${method} not allowed on ${resourceType}`);
      }
    }
    if (segments.length === 2 && id === '_search' && method === 'POST') {
      const pairs = [...parseQuery(search), ...(Array.isArray(req.body) ? req.body : [])];
      return this.searchType(resourceType, pairs, req);
    }
    if (segments.length === 2) {
      switch (method) {
        case 'GET':
          return this.viaRouter('GET', `${resourceType}/${encodeURIComponent(id)}`, req);
        case 'PUT':
          return this.update(resourceType, id, req);
        case 'DELETE':
        case 'PATCH':
          return this.viaRouter(method, `${resourceType}/${encodeURIComponent(id)}`, req);
        default:
          throw fail(405, 'not-supported', `Method ${method} not allowed on ${resourceType}/${id}`);
      }
    }
    if (third === '_history' && method === 'GET' && segments.length <= 4) {
      const path = vid ? `${resourceType}/${encodeURIComponent(id)}/_history/${encodeURIComponent(vid)}` : `${resourceType}/${encodeURIComponent(id)}/_history`;
      return this.viaRouter('GET', path, req);
    }
    throw fail(404, 'not-found', `Unknown FHIR path: ${req.path}`);
  }

  /** Run a request through Medplum's FhirRouter and convert its FhirResponse. */
  async viaRouter(method, url, req, { body = req.body, headers = req.headers } = {}) {
    const [oo, resource] = await this.router.handleRequest(
      {
        method,
        url,
        pathname: '',
        body,
        params: {},
        query: {},
        headers: headers ?? {},
        config: { transactions: true },
      },
      this.repo
    );
    const status = getStatus(oo);
    if (!isOkStatus(status)) {
      return result(status, withDiagnostics(oo));
    }
    if (resource) {
      return this.resourceResult(status, resource, req);
    }
    return result(status, oo);
  }

  resourceResult(status, resource, req) {
    const headers = {};
    if (resource.resourceType !== 'Bundle' && resource.resourceType !== 'OperationOutcome' && resource.id) {
      const vid = resource.meta?.versionId;
      if (vid) {
        headers.ETag = `W/"${vid}"`;
      }
      if (resource.meta?.lastUpdated) {
        headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
      }
      if (status === 201) {
        headers.Location = `${req.baseUrl}/${resource.resourceType}/${resource.id}${vid ? `/_history/${vid}` : ''}`;
      }
    }
    return result(status, resource, headers);
  }

  checkBody(resourceType, body) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw fail(400, 'invalid', 'Request body must be a FHIR resource (JSON object)');
    }
    if (body.resourceType !== resourceType) {
      throw fail(400, 'invalid', `Incorrect resource type: expected ${resourceType}, found ${body.resourceType ?? '<none>'}`);
    }
  }

  // ---- create / update -----------------------------------------------------------------

  async create(resourceType, req) {
    this.checkBody(resourceType, req.body);
    const body = { ...req.body };
    if (!req.assignedId) {
      delete body.id; // the server assigns ids on create
    }
    const headers = { ...(req.headers ?? {}) };
    const res = await this.viaRouter('POST', resourceType, req, { body, headers });
    return res;
  }

  async update(resourceType, id, req) {
    this.checkBody(resourceType, req.body);
    if (req.body.id !== id) {
      throw fail(400, 'invalid', `Resource id "${req.body.id ?? ''}" does not match the URL id "${id}"`);
    }
    const existed = this.repo.has(resourceType, id);
    const res = await this.viaRouter('PUT', `${resourceType}/${encodeURIComponent(id)}`, req);
    if (res.status === 200 && !existed) {
      // Update as create.
      return this.resourceResult(201, res.resource, req);
    }
    return res;
  }

  /** Search for conditional interactions: returns up to 2 matches (live objects, do not mutate). */
  async conditionalMatches(resourceType, pairs) {
    const filtered = pairs.filter(([k]) => !PAGING_PARAMS.has(k) && !k.startsWith('_sort'));
    if (!filtered.length) {
      throw fail(400, 'required', 'Conditional interaction requires search parameters');
    }
    const searchRequest = parseSearchRequest(resourceType, queryObject(filtered));
    if (searchRequest.include || searchRequest.revInclude) {
      throw fail(400, 'invalid', '_include/_revinclude are not allowed in conditional criteria');
    }
    searchRequest.count = 2;
    searchRequest.offset = 0;
    searchRequest.sortRules = undefined;
    const bundle = await this.repo.search(searchRequest);
    return (bundle.entry ?? []).map((e) => e.resource);
  }

  /** PUT Type?criteria: 0 matches -> create (201), 1 -> update (200), more -> 412. */
  async conditionalUpdate(resourceType, pairs, req) {
    this.checkBody(resourceType, req.body);
    const matches = await this.conditionalMatches(resourceType, pairs);
    if (matches.length > 1) {
      return result(412, withDiagnostics(multipleMatches));
    }
    const body = { ...req.body };
    if (matches.length === 0) {
      if (body.id) {
        return this.update(resourceType, body.id, { ...req, body });
      }
      const createdResource = await this.repo.createResource(body);
      return this.resourceResult(201, createdResource, req);
    }
    const existing = matches[0];
    if (body.id && body.id !== existing.id) {
      throw fail(400, 'invalid', `Resource id "${body.id}" does not match the id "${existing.id}" of the matching resource`);
    }
    body.id = existing.id;
    return this.viaRouter('PUT', `${resourceType}/${encodeURIComponent(existing.id)}`, req, { body });
  }

  // ---- search & paging -----------------------------------------------------------------

  async searchType(resourceType, pairs, req, { self } = {}) {
    const base = pairs.filter(([k, v]) => !PAGING_PARAMS.has(k) && !(k === '_summary' && v === 'count'));
    let count = this.pageSize;
    let offset = 0;
    for (const [k, v] of pairs) {
      if (k === '_summary' && v === 'count') {
        count = 0;
      } else if (k === '_count') {
        const n = Number.parseInt(v, 10);
        if (!Number.isFinite(n) || n < 0) {
          throw fail(400, 'invalid', `Invalid _count: ${v}`);
        }
        count = Math.min(n, MAX_PAGE_SIZE);
      } else if (k === '_offset') {
        const n = Number.parseInt(v, 10);
        if (!Number.isFinite(n) || n < 0) {
          throw fail(400, 'invalid', `Invalid _offset: ${v}`);
        }
        offset = n;
      }
    }
    const query = queryString([...base, ['_count', String(count)], ['_offset', String(offset)]]);
    const res = await this.viaRouter('GET', `${resourceType}?${query}`, req);
    if (res.status !== 200 || res.resource?.resourceType !== 'Bundle') {
      return res;
    }
    const bundle = res.resource;
    const baseUrl = req.baseUrl;
    for (const entry of bundle.entry ?? []) {
      const r = entry.resource;
      entry.fullUrl = `${baseUrl}/${r.resourceType}/${r.id}`;
    }
    const selfUrl = self ?? `${baseUrl}/${resourceType}${base.length || pairs.length ? `?${queryString(pairs)}` : ''}`;
    const link = [{ relation: 'self', url: selfUrl }];
    if (count > 0 && offset + count < (bundle.total ?? 0)) {
      const token = this.issueCursor({ resourceType, pairs: base, count, offset: offset + count });
      link.push({ relation: 'next', url: `${baseUrl}/__page/${token}` });
    }
    // Keep the FHIR element order: resourceType, type, total, link, entry.
    const out = { resourceType: 'Bundle', type: 'searchset', total: bundle.total, link };
    if (bundle.entry?.length) {
      out.entry = bundle.entry.map((e) => ({ fullUrl: e.fullUrl, resource: e.resource, search: e.search }));
    }
    return result(200, out);
  }

  issueCursor(cursor) {
    const token = crypto.randomBytes(16).toString('hex');
    this.cursors.set(token, { ...cursor, expired: false });
    if (this.cursors.size > MAX_CURSORS) {
      // Forget the oldest cursor.
      this.cursors.delete(this.cursors.keys().next().value);
    }
    return token;
  }

  async page(token, req) {
    const cursor = this.cursors.get(token);
    if (!cursor) {
      throw fail(410, 'expired', 'Unknown or forgotten paging link; restart the search');
    }
    if (cursor.expired) {
      throw fail(410, 'expired', 'Paging link has expired; restart the search');
    }
    const pairs = [...cursor.pairs, ['_count', String(cursor.count)], ['_offset', String(cursor.offset)]];
    return this.searchType(cursor.resourceType, pairs, req, { self: `${req.baseUrl}/__page/${token}` });
  }

  // ---- batch / transaction -------------------------------------------------------------

  async processBundle(bundle, req) {
    if (!bundle || bundle.resourceType !== 'Bundle') {
      throw fail(400, 'invalid', 'POST to the base URL requires a Bundle of type batch or transaction');
    }
    if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
      throw fail(400, 'invalid', `Unsupported Bundle.type for POST: ${bundle.type ?? '<none>'} (use batch or transaction)`);
    }
    const entries = bundle.entry ?? [];
    for (let i = 0; i < entries.length; i++) {
      const request = entries[i]?.request;
      if (!request?.method || !request.url) {
        if (bundle.type === 'transaction') {
          throw fail(400, 'required', `Bundle.entry[${i}].request.method and .url are required`);
        }
      }
    }
    return bundle.type === 'batch' ? this.processBatch(entries, req) : this.processTransaction(entries, req);
  }

  entryRequest(entry, req, overrides = {}) {
    const request = entry.request ?? {};
    const url = overrides.url ?? request.url ?? '';
    const rel = url.startsWith(req.baseUrl) ? url.slice(req.baseUrl.length) : url;
    const q = rel.indexOf('?');
    const path = '/' + (q >= 0 ? rel.slice(0, q) : rel).replace(/^\/+/, '');
    const headers = {};
    if (request.ifNoneExist) {
      headers['if-none-exist'] = request.ifNoneExist;
    }
    if (request.ifMatch) {
      headers['if-match'] = request.ifMatch;
    }
    return {
      method: request.method,
      path,
      search: q >= 0 ? rel.slice(q + 1) : '',
      headers,
      body: overrides.body ?? entry.resource,
      baseUrl: req.baseUrl,
      assignedId: Boolean(overrides.assignedId),
    };
  }

  responseEntry(res, req) {
    const response = { status: statusLine(res.status) };
    const r = res.resource;
    if (res.headers.Location) {
      response.location = res.headers.Location.startsWith(req.baseUrl + '/')
        ? res.headers.Location.slice(req.baseUrl.length + 1)
        : res.headers.Location;
    } else if (isOkStatus(res.status) && r?.id && r.resourceType !== 'Bundle' && r.resourceType !== 'OperationOutcome') {
      response.location = `${r.resourceType}/${r.id}${r.meta?.versionId ? `/_history/${r.meta.versionId}` : ''}`;
    }
    if (res.headers.ETag) {
      response.etag = res.headers.ETag;
    }
    if (r?.meta?.lastUpdated && r.resourceType !== 'Bundle') {
      response.lastModified = r.meta.lastUpdated;
    }
    const out = {};
    if (!isOkStatus(res.status)) {
      response.outcome = r;
      return { response };
    }
    if (r && r.resourceType !== 'OperationOutcome') {
      if (r.id && r.resourceType !== 'Bundle') {
        out.fullUrl = `${req.baseUrl}/${r.resourceType}/${r.id}`;
      }
      out.resource = r;
    } else if (r) {
      response.outcome = r;
    }
    out.response = response;
    return out;
  }

  async processBatch(entries, req) {
    const out = [];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      let res;
      if (!entry?.request?.method || !entry.request.url) {
        res = result(400, outcome('required', `Bundle.entry[${i}].request.method and .url are required`));
      } else if (entry.request.url.replace(/^\/+/, '') === '' && entry.request.method === 'POST') {
        res = result(400, outcome('not-supported', 'Nested batch/transaction is not supported'));
      } else {
        res = await this.dispatch(this.entryRequest(entry, req));
      }
      out.push(this.responseEntry(res, req));
    }
    return result(200, { resourceType: 'Bundle', type: 'batch-response', entry: out });
  }

  /**
   * Transactions: resolve identities first (POST gets a new id, conditional PUT is resolved
   * to a Type/id), rewrite urn:uuid references, then run DELETE, POST, PUT/PATCH, GET in that
   * order. Any failing entry rolls everything back and the transaction answers with that
   * entry's status and OperationOutcome.
   */
  async processTransaction(entries, req) {
    const placeholders = new Map();
    const plans = [];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      const method = entry.request.method.toUpperCase();
      const { path, search } = this.entryRequest(entry, req);
      const segments = path.split('/').filter(Boolean);
      const plan = { index: i, method, entry, url: entry.request.url, body: entry.resource ? { ...entry.resource } : undefined };
      const where = `Bundle.entry[${i}]`;
      if (segments.length === 0) {
        throw fail(400, 'not-supported', `${where}: nested batch/transaction is not supported`);
      }
      const resourceType = segments[0];
      if (method === 'POST' && segments.length === 1) {
        if (entry.request.ifNoneExist) {
          const matches = await this.conditionalMatches(resourceType, parseQuery(entry.request.ifNoneExist));
          if (matches.length > 1) {
            return this.transactionFailure(412, withDiagnostics(multipleMatches), i);
          }
          if (matches.length === 1) {
            plan.existing = matches[0];
          }
        }
        if (!plan.existing) {
          if (!plan.body) {
            throw fail(400, 'required', `${where}.resource is required for POST`);
          }
          plan.body.id = this.repo.generateId();
          plan.assignedId = true;
        }
        const target = plan.existing ?? plan.body;
        this.addPlaceholder(placeholders, entry.fullUrl, `${resourceType}/${target.id}`);
      } else if (method === 'PUT' && segments.length === 1 && search) {
        if (!plan.body) {
          throw fail(400, 'required', `${where}.resource is required for PUT`);
        }
        const matches = await this.conditionalMatches(resourceType, parseQuery(search));
        if (matches.length > 1) {
          return this.transactionFailure(412, withDiagnostics(multipleMatches), i);
        }
        let id = plan.body.id;
        if (matches.length === 1) {
          if (id && id !== matches[0].id) {
            return this.transactionFailure(
              400,
              outcome('invalid', `Resource id "${id}" does not match the id "${matches[0].id}" of the matching resource`),
              i
            );
          }
          id = matches[0].id;
        }
        id ??= this.repo.generateId();
        plan.body.id = id;
        plan.url = `${resourceType}/${id}`;
        this.addPlaceholder(placeholders, entry.fullUrl, plan.url);
      } else if ((method === 'PUT' || method === 'PATCH' || method === 'DELETE') && segments.length === 2) {
        this.addPlaceholder(placeholders, entry.fullUrl, `${resourceType}/${segments[1]}`);
      }
      plans.push(plan);
    }

    // Rewrite urn:uuid / urn:oid placeholders in resources and request URLs.
    if (placeholders.size) {
      for (const plan of plans) {
        if (plan.body) {
          plan.body = rewritePlaceholders(plan.body, placeholders);
        }
        plan.url = rewritePlaceholders(plan.url, placeholders);
      }
    }

    const order = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };
    const ordered = [...plans].sort((a, b) => (order[a.method] ?? 4) - (order[b.method] ?? 4) || a.index - b.index);
    const responses = new Array(entries.length);
    this.repo.beginJournal();
    try {
      for (const plan of ordered) {
        let res;
        if (plan.existing) {
          res = this.resourceResult(200, plan.existing, req);
        } else {
          res = await this.dispatch(
            this.entryRequest(plan.entry, req, { url: plan.url, body: plan.body, assignedId: plan.assignedId })
          );
        }
        if (!isOkStatus(res.status)) {
          this.repo.rollbackJournal();
          return this.transactionFailure(res.status, res.resource, plan.index);
        }
        responses[plan.index] = this.responseEntry(res, req);
      }
      this.repo.commitJournal();
    } catch (err) {
      this.repo.rollbackJournal();
      throw err;
    }
    return result(200, { resourceType: 'Bundle', type: 'transaction-response', entry: responses });
  }

  addPlaceholder(placeholders, fullUrl, reference) {
    if (fullUrl && (fullUrl.startsWith('urn:uuid:') || fullUrl.startsWith('urn:oid:'))) {
      placeholders.set(fullUrl, reference);
    }
  }

  transactionFailure(status, oo, index) {
    const copy = withDiagnostics(oo ?? outcome('exception', 'Transaction failed'));
    copy.issue = copy.issue.map((issue) => ({
      ...issue,
      diagnostics: `Transaction failed at Bundle.entry[${index}]: ${issue.diagnostics ?? ''}`,
    }));
    return result(status, copy);
  }
}

function rewritePlaceholders(value, placeholders) {
  if (typeof value === 'string') {
    if (!value.includes('urn:')) {
      return value;
    }
    const exact = placeholders.get(value);
    if (exact) {
      return exact;
    }
    let out = value;
    for (const [placeholder, reference] of placeholders) {
      if (out.includes(placeholder)) {
        out = out.split(placeholder).join(reference);
      }
    }
    return out;
  }
  if (Array.isArray(value)) {
    return value.map((v) => rewritePlaceholders(v, placeholders));
  }
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = rewritePlaceholders(v, placeholders);
    }
    return out;
  }
  return value;
}

