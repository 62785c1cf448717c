// TestRepository: Medplum's MemoryRepository plus what a test server needs:
//  - validateResource() + required code bindings on every create/update (also the ones FhirRouter and the
//    repository's conditional helpers perform internally),
//  - server-assigned meta.versionId / meta.lastUpdated on every write,
//  - an undo journal so that transactions are all-or-nothing,
//  - a search that clones only the requested page, rejects unknown parameters and
//    supports _sort, _include, _revinclude (with :iterate).
import {
  badRequest,
  convertToSearchableReferences,
  convertToSearchableTokens,
  evalFhirPath,
  evalFhirPathTyped,
  generateId,
  matchesSearchRequest,
  OperationOutcomeError,
  Operator,
  toPeriod,
  toTypedValue,
  validateResource,
} from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import { checkRequiredBindings } from './bindings.mjs';
import { getSearchParams } from './schema.mjs';

const SPECIAL_FILTERS = new Set(['_has']);

/**
 * Medplum's validateResource plus the required-binding check of bindings.mjs; all error
 * issues of both are reported together in one OperationOutcomeError.
 */
export function validate(resource) {
  const issues = [];
  for (const check of [validateResource, checkRequiredBindings]) {
    try {
      check(resource);
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) {
        throw err;
      }
      issues.push(...(err.outcome.issue ?? []));
    }
  }
  if (issues.length) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
  }
}

function clone(value) {
  return JSON.parse(JSON.stringify(value));
}

/** Parse a literal reference ("Type/id", ".../Type/id", ".../Type/id/_history/v") into [type, id]. */
export function parseLiteralReference(reference) {
  if (typeof reference !== 'string' || reference.includes('?') || reference.startsWith('#')) {
    return undefined;
  }
  let parts = reference.split('/').filter(Boolean);
  const hist = parts.indexOf('_history');
  if (hist >= 0) {
    parts = parts.slice(0, hist);
  }
  if (parts.length < 2) {
    return undefined;
  }
  return [parts[parts.length - 2], parts[parts.length - 1]];
}

export class TestRepository extends MemoryRepository {
  constructor() {
    super();
    /** Validate every write with validateResource (turned off only for trusted bulk loads). */
    this.validateWrites = true;
    /** Undo journal while a transaction runs, else null. */
    this.journal = null;
    /** Incremented on every write; invalidates the _revinclude indexes. */
    this.generation = 0;
    this.revIndexes = new Map();
    /** resource object -> Map(search param code -> tokens); stored objects are replaced on write. */
    this.tokenCache = new WeakMap();
    /** Deletions in order ({resourceType, id, time}), for bulk exports with _since. */
    this.deletions = [];
  }

  clear() {
    super.clear();
    this.deletions = [];
    this.generation++;
    this.revIndexes.clear();
  }

  /** The live store of one resource type (Map id -> resource). Do not mutate. */
  store(resourceType) {
    return this.resources.get(resourceType);
  }

  count(resourceType) {
    return this.resources.get(resourceType)?.size ?? 0;
  }

  has(resourceType, id) {
    return Boolean(this.resources.get(resourceType)?.has(id));
  }

  async createResource(resource, options) {
    if (this.validateWrites) {
      validate(resource);
    }
    const copy = { ...resource };
    if (!copy.id) {
      copy.id = this.generateId();
    }
    // meta.versionId and meta.lastUpdated are always assigned by the server.
    copy.meta = { ...copy.meta };
    delete copy.meta.versionId;
    delete copy.meta.lastUpdated;
    this.recordUndo(copy.resourceType, copy.id);
    this.generation++;
    return super.createResource(copy, options);
  }

  async deleteResource(resourceType, id) {
    if (this.has(resourceType, id)) {
      this.recordUndo(resourceType, id);
      this.generation++;
      this.deletions.push({ resourceType, id, time: Date.now() });
    }
    return super.deleteResource(resourceType, id);
  }

  recordUndo(resourceType, id) {
    if (!this.journal) {
      return;
    }
    this.journal.push({
      resourceType,
      id,
      previous: this.resources.get(resourceType)?.get(id),
      historyLength: this.history.get(resourceType)?.get(id)?.length ?? 0,
    });
  }

  /** Start recording an undo journal (transaction start). */
  beginJournal() {
    this.journal = [];
  }

  /** Stop recording and keep the changes. */
  commitJournal() {
    this.journal = null;
  }

  /** Undo every change recorded since beginJournal(). */
  rollbackJournal() {
    const journal = this.journal ?? [];
    this.journal = null;
    for (let i = journal.length - 1; i >= 0; i--) {
      const { resourceType, id, previous, historyLength } = journal[i];
      const store = this.resources.get(resourceType);
      if (previous) {
        store.set(id, previous);
      } else {
        store?.delete(id);
      }
      const hist = this.history.get(resourceType);
      const versions = hist?.get(id);
      if (versions) {
        if (historyLength === 0) {
          hist.delete(id);
        } else {
          versions.length = historyLength;
        }
      }
    }
    this.generation++;
  }

  /** Reject unknown search parameters, let bare ids match typed references. */
  normalizeFilters(searchRequest) {
    const params = getSearchParams(searchRequest.resourceType);
    for (const filter of searchRequest.filters ?? []) {
      if (SPECIAL_FILTERS.has(filter.code) || filter.code.includes('.')) {
        throw new OperationOutcomeError(badRequest(`Unsupported search parameter: ${filter.code}`));
      }
      const sp = params[filter.code];
      if (!sp) {
        throw new OperationOutcomeError(
          badRequest(`Unknown search parameter for ${searchRequest.resourceType}: ${filter.code}`)
        );
      }
      if (
        sp.type === 'reference' &&
        (filter.operator === Operator.EQUALS || filter.operator === Operator.NOT_EQUALS) &&
        filter.value &&
        Array.isArray(sp.target)
      ) {
        // "subject=123" means any target type with id 123.
        filter.value = filter.value
          .split(',')
          .flatMap((v) => (v.includes('/') || v.includes(':') ? [v] : sp.target.map((t) => `${t}/${v}`)))
          .join(',');
      }
    }
  }

  async search(searchRequest) {
    const { resourceType } = searchRequest;
    this.normalizeFilters(searchRequest);
    // _lastUpdated is evaluated natively (FHIRPath per resource is slow on large stores).
    // Plain token equality (identifier=sys|val, status=final, ...) uses cached token values.
    const params = getSearchParams(resourceType);
    const timeFilters = [];
    const tokenFilters = [];
    const otherFilters = [];
    for (const filter of searchRequest.filters ?? []) {
      if (filter.code === '_lastUpdated' && filter.operator !== Operator.MISSING && filter.operator !== Operator.PRESENT) {
        timeFilters.push(lastUpdatedPredicate(filter));
      } else if (params[filter.code]?.type === 'token' && filter.operator === Operator.EQUALS) {
        tokenFilters.push({ sp: params[filter.code], values: filter.value.split(',').map(parseTokenValue) });
      } else {
        otherFilters.push(filter);
      }
    }
    const rest = { ...searchRequest, filters: otherFilters };
    const store = this.resources.get(resourceType);
    let matches = [];
    if (store) {
      for (const resource of store.values()) {
        if (timeFilters.length) {
          const t = Date.parse(resource.meta?.lastUpdated ?? '');
          if (!timeFilters.every((p) => p(t))) {
            continue;
          }
        }
        if (tokenFilters.length && !tokenFilters.every((f) => this.matchesTokens(resource, f))) {
          continue;
        }
        if (!otherFilters.length || matchesSearchRequest(resource, rest)) {
          matches.push(resource);
        }
      }
    }
    if (searchRequest.sortRules?.length) {
      matches = sortResources(matches, resourceType, searchRequest.sortRules);
    }
    const total = matches.length;
    const offset = Math.max(0, searchRequest.offset ?? 0);
    const page =
      searchRequest.count === undefined ? matches.slice(offset) : matches.slice(offset, offset + searchRequest.count);
    const entry = page.map((resource) => ({ resource: clone(resource), search: { mode: 'match' } }));
    for (const resource of this.collectIncludes(page, searchRequest)) {
      entry.push({ resource: clone(resource), search: { mode: 'include' } });
    }
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total,
      ...(entry.length ? { entry } : undefined),
    };
  }

  /** Token values of a stored resource for one search parameter, cached until the resource is replaced. */
  tokensOf(resource, sp) {
    let perResource = this.tokenCache.get(resource);
    if (!perResource) {
      perResource = new Map();
      this.tokenCache.set(resource, perResource);
    }
    let tokens = perResource.get(sp.code);
    if (!tokens) {
      tokens = convertToSearchableTokens(evalFhirPathTyped(sp.expression, [toTypedValue(resource)])).map((t) => ({
        system: t.system?.toLowerCase(),
        value: t.value?.toLowerCase(),
      }));
      perResource.set(sp.code, tokens);
    }
    return tokens;
  }

  matchesTokens(resource, { sp, values }) {
    const tokens = this.tokensOf(resource, sp);
    return values.some((v) =>
      tokens.some((t) => {
        if (v.system === undefined) {
          return t.value === v.value;
        }
        if (v.system === '') {
          return !t.system && t.value === v.value;
        }
        return t.system === v.system && (!v.value || t.value === v.value);
      })
    );
  }

  async searchByReference(searchRequest, referenceField, references) {
    const results = {};
    for (const reference of references) {
      const bundle = await this.search({
        ...searchRequest,
        filters: [...(searchRequest.filters ?? []), { code: referenceField, operator: Operator.EQUALS, value: reference }],
      });
      results[reference] = (bundle.entry ?? []).map((e) => e.resource);
    }
    return results;
  }

  referenceSearchParam(resourceType, code, what) {
    const sp = getSearchParams(resourceType)[code];
    if (!sp || sp.type !== 'reference') {
      throw new OperationOutcomeError(badRequest(`Invalid ${what} parameter: ${resourceType}:${code}`));
    }
    return sp;
  }

  /** Resources referenced (_include) or referencing (_revinclude) the page, deduplicated. */
  collectIncludes(page, searchRequest) {
    const includes = searchRequest.include ?? [];
    const revIncludes = searchRequest.revInclude ?? [];
    if (!page.length || (!includes.length && !revIncludes.length)) {
      return [];
    }
    const seen = new Set(page.map((r) => `${r.resourceType}/${r.id}`));
    const result = [];
    const add = (resource, next) => {
      const key = `${resource.resourceType}/${resource.id}`;
      if (!seen.has(key)) {
        seen.add(key);
        result.push(resource);
        next.push(resource);
      }
    };
    let frontier = page;
    for (let depth = 0; frontier.length && depth < 4; depth++) {
      const next = [];
      for (const target of includes) {
        if (depth > 0 && target.modifier !== Operator.ITERATE) {
          continue;
        }
        const sp = this.referenceSearchParam(target.resourceType, target.searchParam, '_include');
        for (const resource of frontier) {
          if (resource.resourceType !== target.resourceType) {
            continue;
          }
          for (const ref of convertToSearchableReferences(evalFhirPathTyped(sp.expression, [toTypedValue(resource)]))) {
            const parsed = parseLiteralReference(ref);
            if (!parsed || (target.targetType && parsed[0] !== target.targetType)) {
              continue;
            }
            const found = this.resources.get(parsed[0])?.get(parsed[1]);
            if (found) {
              add(found, next);
            }
          }
        }
      }
      for (const target of revIncludes) {
        if (depth > 0 && target.modifier !== Operator.ITERATE) {
          continue;
        }
        const index = this.revIndex(target.resourceType, target.searchParam);
        for (const resource of frontier) {
          if (target.targetType && resource.resourceType !== target.targetType) {
            continue;
          }
          for (const referrer of index.get(`${resource.resourceType}/${resource.id}`) ?? []) {
            add(referrer, next);
          }
        }
      }
      frontier = next;
    }
    return result;
  }

  /** Map "Type/id" -> resources of `resourceType` whose search parameter `code` references it. Cached per write generation. */
  revIndex(resourceType, code) {
    const sp = this.referenceSearchParam(resourceType, code, '_revinclude');
    const key = `${resourceType}:${code}`;
    const cached = this.revIndexes.get(key);
    if (cached && cached.generation === this.generation) {
      return cached.index;
    }
    const index = new Map();
    for (const resource of this.resources.get(resourceType)?.values() ?? []) {
      for (const ref of convertToSearchableReferences(evalFhirPathTyped(sp.expression, [toTypedValue(resource)]))) {
        const parsed = parseLiteralReference(ref);
        if (!parsed) {
          continue;
        }
        const target = `${parsed[0]}/${parsed[1]}`;
        let list = index.get(target);
        if (!list) {
          list = [];
          index.set(target, list);
        }
        if (!list.includes(resource)) {
          list.push(resource);
        }
      }
    }
    this.revIndexes.set(key, { generation: this.generation, index });
    return index;
  }

  generateId() {
    return generateId();
  }
}

/** "sys|val" -> {system, value}; "val" -> {value}; matching is case-insensitive like Medplum's. */
function parseTokenValue(text) {
  const bar = text.indexOf('|');
  if (bar < 0) {
    return { system: undefined, value: text.toLowerCase() };
  }
  return { system: text.slice(0, bar).toLowerCase(), value: text.slice(bar + 1).toLowerCase() };
}

/** Predicate on a millisecond timestamp for one _lastUpdated filter (FHIR date prefix semantics). */
function lastUpdatedPredicate(filter) {
  const ranges = filter.value.split(',').map((value) => {
    const period = toPeriod(value);
    const start = Date.parse(period?.start ?? '');
    const end = Date.parse(period?.end ?? '');
    if (Number.isNaN(start) || Number.isNaN(end)) {
      throw new OperationOutcomeError(badRequest(`Invalid _lastUpdated value: ${value}`));
    }
    return [start, end];
  });
  const op = filter.operator;
  const one = ([start, end], t) => {
    switch (op) {
      case Operator.GREATER_THAN:
      case Operator.STARTS_AFTER:
        return t > end;
      case Operator.GREATER_THAN_OR_EQUALS:
        return t >= start;
      case Operator.LESS_THAN:
      case Operator.ENDS_BEFORE:
        return t < start;
      case Operator.LESS_THAN_OR_EQUALS:
        return t <= end;
      case Operator.EQUALS:
      case Operator.APPROXIMATELY:
      case Operator.NOT_EQUALS:
        return t >= start && t <= end;
      default:
        throw new OperationOutcomeError(badRequest(`Unsupported _lastUpdated prefix: ${op}`));
    }
  };
  const negate = op === Operator.NOT_EQUALS;
  return (t) => !Number.isNaN(t) && ranges.some((r) => one(r, t)) !== negate;
}

function sortKey(value) {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value === 'object') {
    // Period / Coding / HumanName ...: use a stable string of the first meaningful field.
    return sortKey(
      value.start ?? value.end ?? value.value ?? value.code ?? value.family ?? value.display ?? JSON.stringify(value)
    );
  }
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) {
    // Instants with different offsets compare correctly once normalised to UTC.
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? value : date.toISOString();
  }
  return value;
}

function sortResources(resources, resourceType, sortRules) {
  const params = getSearchParams(resourceType);
  const rules = sortRules.map((rule) => {
    const sp = params[rule.code];
    if (!sp?.expression) {
      throw new OperationOutcomeError(badRequest(`Unknown _sort parameter for ${resourceType}: ${rule.code}`));
    }
    return { expression: sp.expression, descending: Boolean(rule.descending) };
  });
  const keyed = resources.map((resource, position) => ({
    resource,
    position,
    keys: rules.map((r) => sortKey(evalFhirPath(r.expression, resource)[0])),
  }));
  keyed.sort((a, b) => {
    for (let i = 0; i < rules.length; i++) {
      const x = a.keys[i];
      const y = b.keys[i];
      if (x === y) {
        continue;
      }
      // Missing values sort last regardless of direction.
      if (x === undefined) {
        return 1;
      }
      if (y === undefined) {
        return -1;
      }
      let cmp;
      if (typeof x === 'number' && typeof y === 'number') {
        cmp = x - y;
      } else {
        const xs = String(x);
        const ys = String(y);
        cmp = xs < ys ? -1 : xs > ys ? 1 : 0;
      }
      if (cmp !== 0) {
        return rules[i].descending ? -cmp : cmp;
      }
    }
    return a.position - b.position;
  });
  return keyed.map((k) => k.resource);
}
