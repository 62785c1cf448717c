// Bulk Data Access ($export) over the test repository: kick-off, status, files, cancel.
//
// An export is computed in full at kick-off (a snapshot at transactionTime) and then reported
// "in progress" for `pollsBeforeDone` status polls, with Retry-After and X-Progress. File links
// are opaque tokens that expire after `linkTtlMs` or on POST /__admin/expire-links.
import crypto from 'node:crypto';
import { parseSearchRequest } from '@medplum/core';
import { isR4ResourceType } from './schema.mjs';

export const NDJSON = 'application/fhir+ndjson';
const OUTPUT_FORMATS = new Set([NDJSON, 'application/ndjson', 'ndjson']);
/** Types never in a patient's compartment here (what a Patient/Group export leaves out). */
const PATIENT_LINKS = ['subject', 'patient', 'beneficiary'];

export const BULK_DEFAULTS = Object.freeze({
  pollsBeforeDone: 1,
  retryAfter: '1',
  linkTtlMs: 3600 * 1000,
  requiresAccessToken: null, // null: true exactly when the server's auth is on
  fileLines: 5000,
  errors: [],
  typeFilter: true,
  fileBase: null, // another origin for the file links, e.g. "http://localhost:<port>"
  getKickoff: true, // false: a GET kick-off is 405 (Bulk Data STU 4 allows only POST)
});

export class BulkError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function parseInstant(name, value) {
  const t = Date.parse(value);
  if (!value || Number.isNaN(t)) {
    throw new BulkError(400, 'invalid', `${name} is not a FHIR instant: ${value}`);
  }
  return t;
}

function ndjson(resources) {
  return Buffer.from(resources.map((r) => JSON.stringify(r)).join('\n') + (resources.length ? '\n' : ''));
}

function chunks(list, size) {
  const out = [];
  for (let i = 0; i < list.length; i += size) {
    out.push(list.slice(i, i + size));
  }
  return out;
}

export class BulkExports {
  constructor(repo) {
    this.repo = repo;
    this.reset();
  }

  reset() {
    this.jobs = new Map();
    this.links = new Map();
    this.config = { ...BULK_DEFAULTS };
  }

  /** Merge admin settings (unknown keys are refused). */
  configure(spec) {
    for (const key of Object.keys(spec ?? {})) {
      if (!(key in BULK_DEFAULTS)) {
        throw new BulkError(400, 'invalid', `unknown bulk setting ${key}`);
      }
    }
    this.config = { ...this.config, ...spec };
    return this.config;
  }

  expireLinks() {
    let n = 0;
    for (const link of this.links.values()) {
      if (!link.expired) {
        link.expired = true;
        n++;
      }
    }
    return n;
  }

  /**
   * Start an export. `level` is "system", "patient" or "group" (with `groupId`).
   * Returns the job id; the export content is computed now.
   */
  async kickoff({ level, groupId, pairs, headers, requestUrl, authOn }) {
    if (!/\brespond-async\b/.test(String(headers.prefer ?? ''))) {
      throw new BulkError(400, 'invalid', '$export needs the header Prefer: respond-async');
    }
    const params = new Map();
    for (const [k, v] of pairs) {
      params.set(k, [...(params.get(k) ?? []), v]);
    }
    const format = params.get('_outputFormat')?.[0];
    if (format && !OUTPUT_FORMATS.has(format)) {
      throw new BulkError(400, 'not-supported', `_outputFormat ${format} is not supported`);
    }
    const since = params.has('_since') ? parseInstant('_since', params.get('_since')[0]) : undefined;
    const types = (params.get('_type') ?? []).flatMap((v) => v.split(',')).filter(Boolean);
    for (const t of types) {
      if (!isR4ResourceType(t)) {
        throw new BulkError(400, 'invalid', `_type names an unknown resource type: ${t}`);
      }
    }
    const typeFilters = new Map();
    for (const filter of (params.get('_typeFilter') ?? []).flatMap((v) => v.split(','))) {
      if (!this.config.typeFilter) {
        throw new BulkError(400, 'not-supported', '_typeFilter is not supported by this server');
      }
      const [ftype] = filter.split('?');
      if (!isR4ResourceType(ftype) || !filter.includes('?')) {
        throw new BulkError(400, 'invalid', `_typeFilter must be Type?query: ${filter}`);
      }
      typeFilters.set(ftype, [...(typeFilters.get(ftype) ?? []), filter]);
    }

    let patients;
    if (level === 'group') {
      const group = this.repo.store('Group')?.get(groupId);
      if (!group) {
        throw new BulkError(404, 'not-found', `Group/${groupId} not found`);
      }
      patients = new Set(
        (group.member ?? []).map((m) => patientId(m.entity?.reference)).filter((id) => id !== undefined)
      );
    } else if (level === 'patient') {
      patients = new Set(this.repo.store('Patient')?.keys() ?? []);
    }

    const transactionTime = new Date();
    const allTypes = [...this.repo.resources.keys()].filter((t) => this.repo.count(t) > 0).sort();
    const output = new Map();
    for (const type of types.length ? types : allTypes) {
      let keep;
      if (typeFilters.has(type)) {
        keep = new Set();
        for (const filter of typeFilters.get(type)) {
          let request;
          try {
            request = parseSearchRequest(filter);
            const bundle = await this.repo.search({ ...request, count: undefined, offset: 0 });
            for (const entry of bundle.entry ?? []) {
              keep.add(entry.resource.id);
            }
          } catch (err) {
            throw new BulkError(400, 'invalid', `_typeFilter ${filter}: ${err.message}`);
          }
        }
      }
      const selected = [];
      for (const resource of this.repo.store(type)?.values() ?? []) {
        if (since !== undefined && !(Date.parse(resource.meta?.lastUpdated ?? '') > since)) {
          continue;
        }
        if (keep && !keep.has(resource.id)) {
          continue;
        }
        if (patients && !inCompartment(resource, patients)) {
          continue;
        }
        selected.push(resource);
      }
      if (selected.length) {
        output.set(type, selected);
      }
    }
    const deleted =
      since === undefined
        ? []
        : this.repo.deletions.filter((d) => d.time > since && (!types.length || types.includes(d.resourceType)));

    const id = crypto.randomBytes(12).toString('hex');
    const requires = this.config.requiresAccessToken ?? authOn;
    this.jobs.set(id, {
      id,
      polls: 0,
      requestUrl,
      transactionTime: transactionTime.toISOString(),
      requiresAccessToken: Boolean(requires),
      output,
      deleted,
      errors: [...this.config.errors],
    });
    return id;
  }

  /** The status answer of a job: {status, body?, headers}. */
  status(id, baseUrl) {
    const job = this.jobs.get(id);
    if (!job) {
      throw new BulkError(404, 'not-found', 'Unknown or cancelled export');
    }
    const total = this.config.pollsBeforeDone;
    if (job.polls < total) {
      job.polls++;
      const percent = Math.floor((100 * job.polls) / (total + 1));
      const headers = { 'X-Progress': `${percent}% done` };
      if (this.config.retryAfter !== null && this.config.retryAfter !== undefined) {
        headers['Retry-After'] = String(this.config.retryAfter);
      }
      return { status: 202, headers };
    }
    return { status: 200, body: this.manifest(job, baseUrl), headers: {} };
  }

  manifest(job, baseUrl) {
    const fileBase = this.config.fileBase ? `${this.config.fileBase.replace(/\/$/, '')}/fhir` : baseUrl;
    const link = (name, body) => {
      const token = crypto.randomBytes(16).toString('hex');
      this.links.set(token, {
        name,
        body,
        job: job.id,
        requiresAccessToken: job.requiresAccessToken,
        expiresAt: Date.now() + this.config.linkTtlMs,
        expired: false,
      });
      return `${fileBase}/__bulk-file/${token}/${name}`;
    };
    const output = [];
    for (const [type, resources] of job.output) {
      chunks(resources, Math.max(1, this.config.fileLines)).forEach((part, n) => {
        output.push({ type, url: link(`${type}.${String(n).padStart(3, '0')}.ndjson`, ndjson(part)), count: part.length });
      });
    }
    const error = [];
    if (job.errors.length) {
      const outcomes = job.errors.map((text) => ({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'processing', diagnostics: String(text) }],
      }));
      error.push({ type: 'OperationOutcome', url: link('OperationOutcome.000.ndjson', ndjson(outcomes)), count: outcomes.length });
    }
    const deleted = [];
    if (job.deleted.length) {
      const bundles = chunks(job.deleted, 500).map((part) => ({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: part.map((d) => ({ request: { method: 'DELETE', url: `${d.resourceType}/${d.id}` } })),
      }));
      deleted.push({ type: 'Bundle', url: link('Bundle.deleted.ndjson', ndjson(bundles)), count: bundles.length });
    }
    return {
      transactionTime: job.transactionTime,
      request: job.requestUrl,
      requiresAccessToken: job.requiresAccessToken,
      output,
      deleted,
      error,
    };
  }

  cancel(id) {
    if (!this.jobs.delete(id)) {
      throw new BulkError(404, 'not-found', 'Unknown or cancelled export');
    }
    for (const [token, link] of this.links) {
      if (link.job === id) {
        this.links.delete(token);
      }
    }
  }

  /** The link behind a file URL token, or a BulkError (404 unknown, 410 expired). */
  file(token) {
    const link = this.links.get(token);
    if (!link) {
      throw new BulkError(404, 'not-found', 'Unknown export file');
    }
    if (link.expired || Date.now() > link.expiresAt) {
      throw new BulkError(410, 'expired', 'Export file link has expired; start a new export');
    }
    return link;
  }
}

function inCompartment(resource, patients) {
  if (resource.resourceType === 'Patient') {
    return patients.has(resource.id);
  }
  for (const name of PATIENT_LINKS) {
    const id = patientId(resource[name]?.reference);
    if (id !== undefined && patients.has(id)) {
      return true;
    }
  }
  return false;
}

/** The id of a (relative or absolute) Patient reference, else undefined. */
function patientId(reference) {
  const match = typeof reference === 'string' ? /(?:^|\/)Patient\/([^/]+)$/.exec(reference) : null;
  return match ? match[1] : undefined;
}
