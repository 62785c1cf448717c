#!/usr/bin/env node
// In-memory FHIR R4 test server for fhir-microsystems tests (test equipment, not a product).
//
//   node server.mjs [--port N] [--load DIR] [--page-size N] [--validate-load] [--verbose]
//
// Prints exactly one line "LISTENING <port>" on stdout once it accepts requests; everything
// else goes to stderr. FHIR base URL: http://127.0.0.1:<port>/fhir. See README.md.
import http from 'node:http';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BulkError, BulkExports, NDJSON } from './src/bulk.mjs';
import { FhirService, outcome } from './src/fhir.mjs';
import { loadNdjsonDir, LoadError } from './src/load.mjs';

const gzip = promisify(zlib.gzip);
const GZIP_MIN_BYTES = 1024;
const MAX_BODY_BYTES = 256 * 1024 * 1024;
const FAULT_MODES = new Set(['429', '503', '500', '410', '404', 'delay', 'drop', 'truncate']);

function usage(message) {
  if (message) {
    process.stderr.write(`error: ${message}\n`);
  }
  process.stderr.write(
    'usage: node server.mjs [--port N (0 = free port)] [--load DIR] [--page-size N] [--validate-load] [--verbose]\n'
  );
  process.exit(2);
}

export function parseArgs(argv) {
  const opts = { port: 0, load: undefined, pageSize: 50, validateLoad: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg];
    const value = () => {
      if (inline !== undefined) {
        return inline;
      }
      i++;
      if (i >= argv.length) {
        usage(`${flag} needs a value`);
      }
      return argv[i];
    };
    switch (flag) {
      case '--port':
        opts.port = Number.parseInt(value(), 10);
        if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
          usage('--port must be 0..65535');
        }
        break;
      case '--load':
        opts.load = value();
        break;
      case '--page-size':
        opts.pageSize = Number.parseInt(value(), 10);
        if (!Number.isInteger(opts.pageSize) || opts.pageSize < 1 || opts.pageSize > 1000) {
          usage('--page-size must be 1..1000');
        }
        break;
      case '--validate-load':
        opts.validateLoad = true;
        break;
      case '--verbose':
        opts.verbose = true;
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown argument ${arg}`);
    }
  }
  return opts;
}

/** State of the admin-controlled test behaviour. */
class Controls {
  constructor() {
    this.reset();
  }

  reset() {
    this.faults = [];
    this.tokens = null;
    this.resetStats();
  }

  resetStats() {
    this.stats = { requests: 0, faultsServed: 0, byStatus: {} };
  }

  count(status) {
    const key = String(status);
    this.stats.byStatus[key] = (this.stats.byStatus[key] ?? 0) + 1;
  }

  /** Take the first pending fault whose path filter matches, if any. */
  takeFault(pathAndQuery) {
    const fault = this.faults.find((f) => f.remaining > 0 && (!f.paths || pathAndQuery.includes(f.paths)));
    if (!fault) {
      return undefined;
    }
    fault.remaining--;
    this.faults = this.faults.filter((f) => f.remaining > 0);
    return fault;
  }
}

function sendJson(res, status, body, headers = {}, acceptEncoding = '') {
  const payload = Buffer.from(JSON.stringify(body));
  return sendBuffer(res, status, payload, 'application/json; charset=utf-8', headers, acceptEncoding);
}

async function sendBuffer(res, status, payload, contentType, headers, acceptEncoding) {
  const h = { 'Content-Type': contentType, ...headers };
  let data = payload;
  if (payload.length > GZIP_MIN_BYTES && /\bgzip\b/i.test(acceptEncoding ?? '')) {
    data = await gzip(payload);
    h['Content-Encoding'] = 'gzip';
    h.Vary = 'Accept-Encoding';
  }
  h['Content-Length'] = data.length;
  res.writeHead(status, h);
  res.end(data);
}

/** Kick-off parameters of a POSTed Parameters resource as [name, value] pairs. */
function parameterPairs(body) {
  if (body?.resourceType !== 'Parameters') {
    throw new BulkError(400, 'invalid', 'A POST kick-off needs a Parameters resource');
  }
  return (body.parameter ?? []).map((p) => {
    const key = Object.keys(p).find((k) => k.startsWith('value'));
    return [String(p.name ?? ''), key ? String(p[key]) : ''];
  });
}

/** Send the headers and half of the body, then drop the connection (fault "truncate"). */
function sendTruncated(res, status, payload, contentType, headers) {
  res.writeHead(status, { 'Content-Type': contentType, ...headers, 'Content-Length': payload.length });
  res.write(payload.subarray(0, Math.floor(payload.length / 2)), () => res.destroy());
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error('Request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class RequestError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Parse a request body according to its Content-Type. */
async function parseBody(req) {
  let raw = await readBody(req);
  if (!raw.length) {
    return undefined;
  }
  const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();
  if (encoding === 'gzip') {
    try {
      raw = zlib.gunzipSync(raw);
    } catch {
      throw new RequestError(400, 'invalid', 'Request body is not valid gzip');
    }
  } else if (encoding && encoding !== 'identity') {
    throw new RequestError(415, 'not-supported', `Unsupported Content-Encoding: ${encoding}`);
  }
  const type = (req.headers['content-type'] ?? 'application/fhir+json').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    return [...new URLSearchParams(raw.toString('utf8')).entries()];
  }
  if (
    type !== 'application/fhir+json' &&
    type !== 'application/json' &&
    type !== 'application/json-patch+json' &&
    type !== 'text/plain'
  ) {
    throw new RequestError(415, 'not-supported', `Unsupported Content-Type: ${type} (use application/fhir+json)`);
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new RequestError(400, 'invalid', 'Request body is not valid JSON');
  }
}

export function createServer({ pageSize = 50, verbose = false } = {}) {
  const service = new FhirService({ pageSize });
  const bulk = new BulkExports(service.repo);
  // $export as HAPI declares it: at the system and on Patient and Group.
  const bulkOp = (kind) => [{ name: 'export', definition: `http://hl7.org/fhir/uv/bulkdata/OperationDefinition/${kind}` }];
  service.capability.rest[0].operation = bulkOp('export');
  for (const entry of service.capability.rest[0].resource) {
    if (entry.type === 'Patient' || entry.type === 'Group') {
      entry.operation = bulkOp(entry.type === 'Patient' ? 'patient-export' : 'group-export');
    }
  }
  const controls = new Controls();
  let port = 0;

  const log = (line) => {
    if (verbose) {
      process.stderr.write(`${line}\n`);
    }
  };

  async function handleAdmin(req, res, url) {
    const ae = req.headers['accept-encoding'];
    const route = `${req.method} ${url.pathname}`;
    let body;
    try {
      body = req.method === 'POST' ? await parseBody(req) : undefined;
    } catch (err) {
      return sendJson(res, err.status ?? 400, { error: err.message });
    }
    if (route === 'POST /__admin/faults') {
      const spec = body ?? {};
      const mode = String(spec.mode ?? '');
      if (!FAULT_MODES.has(mode)) {
        return sendJson(res, 400, { error: `mode must be one of ${[...FAULT_MODES].join(', ')}` });
      }
      const count = spec.count === undefined ? 1 : Number(spec.count);
      if (!Number.isInteger(count) || count < 1) {
        return sendJson(res, 400, { error: 'count must be a positive integer' });
      }
      const delayMs = spec.delayMs === undefined ? 0 : Number(spec.delayMs);
      if (mode === 'delay' && (!Number.isFinite(delayMs) || delayMs < 0)) {
        return sendJson(res, 400, { error: 'delayMs must be a non-negative number' });
      }
      const fault = {
        mode,
        remaining: count,
        retryAfter: spec.retryAfter === undefined || spec.retryAfter === null ? undefined : String(spec.retryAfter),
        delayMs,
        paths: spec.paths ? String(spec.paths) : undefined,
      };
      controls.faults.push(fault);
      return sendJson(res, 200, { ok: true, pending: controls.faults.map((f) => ({ ...f })) });
    }
    if (route === 'DELETE /__admin/faults') {
      controls.faults = [];
      return sendJson(res, 200, { ok: true });
    }
    if (route === 'GET /__admin/faults') {
      return sendJson(res, 200, { pending: controls.faults.map((f) => ({ ...f })) });
    }
    if (route === 'POST /__admin/expire-links') {
      return sendJson(res, 200, { ok: true, expired: service.expireLinks() + bulk.expireLinks() });
    }
    if (route === 'POST /__admin/auth') {
      const tokens = body?.tokens;
      if (tokens === null || tokens === undefined) {
        controls.tokens = null;
      } else if (Array.isArray(tokens) && tokens.every((t) => typeof t === 'string' && t)) {
        controls.tokens = new Set(tokens);
      } else {
        return sendJson(res, 400, { error: 'tokens must be a list of non-empty strings or null' });
      }
      return sendJson(res, 200, { ok: true, auth: controls.tokens !== null });
    }
    if (route === 'POST /__admin/bulk') {
      try {
        return sendJson(res, 200, { ok: true, config: bulk.configure(body ?? {}) });
      } catch (e) {
        return sendJson(res, e.status ?? 400, { error: e.message });
      }
    }
    if (route === 'GET /__admin/bulk') {
      return sendJson(res, 200, { config: bulk.config, jobs: bulk.jobs.size });
    }
    if (route === 'GET /__admin/stats') {
      return sendJson(res, 200, controls.stats);
    }
    if (route === 'POST /__admin/reset-stats') {
      controls.resetStats();
      return sendJson(res, 200, { ok: true });
    }
    if (route === 'POST /__admin/reset') {
      await service.mutex.run(() => {
        service.reset();
        bulk.reset();
        controls.reset();
      });
      return sendJson(res, 200, { ok: true });
    }
    const countMatch = /^\/__admin\/count\/([A-Za-z]+)$/.exec(url.pathname);
    if (req.method === 'GET' && countMatch) {
      return sendJson(res, 200, { count: service.repo.count(countMatch[1]) }, {}, ae);
    }
    return sendJson(res, 404, { error: `unknown admin endpoint ${route}` });
  }

  async function handleFhir(req, res, url) {
    const ae = req.headers['accept-encoding'];
    const host = req.headers.host ?? `127.0.0.1:${port}`;
    const baseUrl = `http://${host}/fhir`;
    const path = url.pathname.slice('/fhir'.length);
    controls.stats.requests++;

    let truncate = false;
    const send = async (status, body, headers = {}, contentType = 'application/fhir+json; charset=utf-8') => {
      controls.count(status);
      log(`${req.method} ${url.pathname} ${status}`);
      if (body === undefined || req.method === 'HEAD') {
        res.writeHead(status, headers);
        res.end();
        return;
      }
      const payload = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      if (truncate) {
        controls.count('truncated');
        return sendTruncated(res, status, payload, contentType, headers);
      }
      await sendBuffer(res, status, payload, contentType, headers, ae);
    };

    const fault = controls.takeFault(url.pathname + url.search);
    if (fault) {
      controls.stats.faultsServed++;
      if (fault.mode === 'drop') {
        controls.count('dropped');
        log(`${req.method} ${url.pathname} dropped`);
        req.socket.destroy();
        return;
      }
      if (fault.mode === 'delay') {
        await sleep(fault.delayMs);
      } else if (fault.mode === 'truncate') {
        truncate = true;
      } else {
        const status = Number(fault.mode);
        const code = { 429: 'throttled', 503: 'transient', 410: 'expired', 404: 'not-found' }[status] ?? 'exception';
        const headers = fault.retryAfter !== undefined ? { 'Retry-After': fault.retryAfter } : {};
        return send(status, outcome(code, `Injected fault: HTTP ${status}`), headers);
      }
    }

    const isMetadata = path === '/metadata' && req.method === 'GET';
    const fileMatch = /^\/__bulk-file\/([0-9a-f]+)\/[^/]+$/.exec(path);
    if (fileMatch && (req.method === 'GET' || req.method === 'HEAD')) {
      return serveBulkFile(fileMatch[1], send);
    }
    if (controls.tokens && !isMetadata) {
      const auth = req.headers.authorization ?? '';
      const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!match || !controls.tokens.has(match[1])) {
        return send(401, outcome('login', 'Missing or invalid bearer token'), {
          'WWW-Authenticate': match ? 'Bearer error="invalid_token"' : 'Bearer',
        });
      }
    }

    let body;
    try {
      body = req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH' ? await parseBody(req) : undefined;
    } catch (err) {
      return send(err.status ?? 400, outcome(err.code ?? 'invalid', err.message));
    }
    if (await handleBulk(path, baseUrl, send)) {
      return;
    }

    const answer = await service.handle({
      method: req.method,
      path,
      search: url.search.startsWith('?') ? url.search.slice(1) : url.search,
      headers: req.headers,
      body,
      baseUrl,
    });
    const prefer = String(req.headers.prefer ?? '');
    const isBundlePost = path === '' || path === '/';
    if (/return=minimal/.test(prefer) && answer.status >= 200 && answer.status < 300 && req.method !== 'GET' && !isBundlePost) {
      return send(answer.status, undefined, answer.headers);
    }
    return send(answer.status, answer.resource, answer.headers);

    /** $export kick-off and status/cancel; true when it answered (the path is a bulk one). */
    async function handleBulk(fhirPath, base, reply) {
      let decoded;
      try {
        decoded = decodeURIComponent(fhirPath);
      } catch {
        return false;
      }
      const kick = /^\/(?:(Patient)\/|Group\/([A-Za-z0-9\-.]{1,64})\/)?\$export$/.exec(decoded);
      const status = /^\/__bulk-status\/([0-9a-f]+)$/.exec(decoded);
      try {
        if (kick && req.method === 'GET' && !bulk.config.getKickoff) {
          await reply(405, outcome('not-supported', 'Kick off with POST and a Parameters resource'));
          return true;
        }
        if (kick && (req.method === 'GET' || req.method === 'POST')) {
          const level = kick[2] ? 'group' : kick[1] ? 'patient' : 'system';
          const id = await bulk.kickoff({
            level,
            groupId: kick[2],
            pairs: req.method === 'POST' ? parameterPairs(body) : [...url.searchParams.entries()],
            headers: req.headers,
            requestUrl: `${base}${fhirPath}${url.search}`,
            authOn: controls.tokens !== null,
          });
          controls.stats.bulkKickoffs = (controls.stats.bulkKickoffs ?? 0) + 1;
          await reply(202, outcome('informational', 'Export started', 'information'), {
            'Content-Location': `${base}/__bulk-status/${id}`,
          });
          return true;
        }
        if (kick) {
          await reply(405, outcome('not-supported', 'Kick off with GET or POST'));
          return true;
        }
        if (status && req.method === 'GET') {
          const answer = bulk.status(status[1], base);
          await reply(answer.status, answer.body, answer.headers, 'application/json; charset=utf-8');
          return true;
        }
        if (status && req.method === 'DELETE') {
          bulk.cancel(status[1]);
          await reply(202, outcome('informational', 'Export cancelled', 'information'));
          return true;
        }
      } catch (e) {
        if (e instanceof BulkError) {
          await reply(e.status, outcome(e.code, e.message));
          return true;
        }
        throw e;
      }
      return false;
    }

    /** A bulk file: token auth only when its export requires it; Range supported. */
    async function serveBulkFile(token, reply) {
      let link;
      try {
        link = bulk.file(token);
      } catch (e) {
        return reply(e.status, outcome(e.code, e.message));
      }
      const auth = req.headers.authorization ?? '';
      controls.stats.bulkFiles = (controls.stats.bulkFiles ?? 0) + 1;
      if (auth) {
        controls.stats.bulkFilesWithAuth = (controls.stats.bulkFilesWithAuth ?? 0) + 1;
      }
      if (link.requiresAccessToken && controls.tokens) {
        const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
        if (!match || !controls.tokens.has(match[1])) {
          return reply(401, outcome('login', 'Missing or invalid bearer token'), { 'WWW-Authenticate': 'Bearer' });
        }
      }
      const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      const start = range ? Number(range[1]) : 0;
      if (range && start > 0 && start < link.body.length) {
        controls.stats.bulkRanges = (controls.stats.bulkRanges ?? 0) + 1;
        const part = link.body.subarray(start);
        const headers = {
          'Content-Range': `bytes ${start}-${link.body.length - 1}/${link.body.length}`,
          'Accept-Ranges': 'bytes',
        };
        controls.count(206);
        if (truncate) {
          return sendTruncated(res, 206, part, NDJSON, headers);
        }
        return sendBuffer(res, 206, part, NDJSON, headers, '');
      }
      return reply(200, link.body, { 'Accept-Ranges': 'bytes' }, NDJSON);
    }
  }

  const server = http.createServer(async (req, res) => {
    let url;
    try {
      url = new URL(req.url, 'http://127.0.0.1');
    } catch {
      return sendJson(res, 400, { error: 'bad request URL' });
    }
    try {
      if (url.pathname.startsWith('/__admin/')) {
        await handleAdmin(req, res, url);
      } else if (url.pathname === '/fhir' || url.pathname.startsWith('/fhir/')) {
        await handleFhir(req, res, url);
      } else {
        await sendJson(res, 404, { error: 'not found; the FHIR base is /fhir' });
      }
    } catch (err) {
      process.stderr.write(`internal error: ${err?.stack ?? err}\n`);
      if (!res.headersSent) {
        await sendJson(res, 500, outcome('exception', 'Internal server error'));
      } else {
        res.destroy();
      }
    }
  });
  server.keepAliveTimeout = 30000;
  server.headersTimeout = 35000;
  server.requestTimeout = 0;

  return {
    server,
    service,
    controls,
    listen(requestedPort) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(requestedPort, '127.0.0.1', () => {
          port = server.address().port;
          resolve(port);
        });
      });
    },
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const app = createServer({ pageSize: opts.pageSize, verbose: opts.verbose });
  process.stderr.write(`fhir test server: definitions indexed in ${Date.now() - started} ms\n`);
  if (opts.load) {
    const t0 = Date.now();
    try {
      const summary = await loadNdjsonDir(app.service.repo, opts.load, { validate: opts.validateLoad });
      const types = Object.entries(summary.byType)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      process.stderr.write(
        `fhir test server: loaded ${summary.resources} resources from ${summary.files} files in ${Date.now() - t0} ms` +
          ` (validation ${opts.validateLoad ? 'on' : 'off'}): ${types}\n`
      );
    } catch (err) {
      if (err instanceof LoadError) {
        process.stderr.write(`fhir test server: load failed: ${err.message}\n`);
        process.exit(3);
      }
      throw err;
    }
  }
  const port = await app.listen(opts.port);
  process.stdout.write(`LISTENING ${port}\n`);
  process.stderr.write(`fhir test server: ready on http://127.0.0.1:${port}/fhir after ${Date.now() - started} ms\n`);
  const stop = () => {
    app.server.close();
    app.server.closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('server.mjs')) {
  main().catch((err) => {
    process.stderr.write(`fhir test server: fatal: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
