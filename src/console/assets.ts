import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The console's static files: hand-written, shipped with the package, nothing fetched at run time. */
const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/**
 * Where the files are: beside this module when running from the sources, or `src/console/web` of the
 * package when running compiled from `dist/src/console/` (package.json "files" ships that folder).
 */
export function webRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'web'), resolve(here, '../../../src/console/web')];
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (!found) throw new Error(`console web assets not found (looked in ${candidates.join(', ')})`);
  return found;
}

export interface Asset {
  body: Buffer;
  type: string;
}

/** Loads every asset once at start; unknown paths are not served (no directory traversal to worry about). */
export function loadAssets(root = webRoot()): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [path, { file, type }] of Object.entries(FILES))
    assets.set(path, { body: readFileSync(join(root, file)), type });
  return assets;
}
