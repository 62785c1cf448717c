// Bulk-Data NDJSON loader: every *.ndjson / *.ndjson.gz file of a directory, one resource
// per line, stored with its own id (update-as-create). Never prints resource contents.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import zlib from 'node:zlib';
import { normalizeOperationOutcome } from '@medplum/core';
import { isR4ResourceType } from './schema.mjs';

export class LoadError extends Error {}

function issueText(err) {
  const oo = normalizeOperationOutcome(err);
  return (oo.issue ?? [])
    .map((i) => `${i.details?.text ?? i.diagnostics ?? i.code}${i.expression ? ` (${i.expression.join(', ')})` : ''}`)
    .join('; ');
}

/**
 * Load a directory into the repository.
 * @param {import('./repo.mjs').TestRepository} repo
 * @param {string} dir
 * @param {{validate: boolean}} options
 * @returns {Promise<{files: number, resources: number, byType: Record<string, number>}>}
 */
export async function loadNdjsonDir(repo, dir, { validate }) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new LoadError(`cannot read --load directory: ${err.code ?? err.message}`);
  }
  const files = names.filter((n) => n.endsWith('.ndjson') || n.endsWith('.ndjson.gz')).sort();
  if (!files.length) {
    throw new LoadError('no *.ndjson or *.ndjson.gz files in the --load directory');
  }
  const previous = repo.validateWrites;
  repo.validateWrites = validate;
  const byType = {};
  let resources = 0;
  try {
    for (const name of files) {
      const file = path.join(dir, name);
      let input = fs.createReadStream(file);
      if (name.endsWith('.gz')) {
        input = input.pipe(zlib.createGunzip());
      }
      const lines = readline.createInterface({ input, crlfDelay: Infinity });
      let lineNo = 0;
      for await (const line of lines) {
        lineNo++;
        if (!line.trim()) {
          continue;
        }
        let resource;
        try {
          resource = JSON.parse(line);
        } catch {
          throw new LoadError(`${name}:${lineNo}: not valid JSON`);
        }
        if (!resource || typeof resource !== 'object' || !isR4ResourceType(resource.resourceType)) {
          throw new LoadError(`${name}:${lineNo}: not a FHIR R4 resource (resourceType missing or unknown)`);
        }
        try {
          await repo.createResource(resource);
        } catch (err) {
          throw new LoadError(`${name}:${lineNo}: invalid ${resource.resourceType}: ${issueText(err)}`);
        }
        byType[resource.resourceType] = (byType[resource.resourceType] ?? 0) + 1;
        resources++;
      }
    }
  } finally {
    repo.validateWrites = previous;
  }
  return { files: files.length, resources, byType };
}
