// Runs the compiled test files with node's test runner.
// `--soak` adds the long runs (*.soak.test.js); CI runs both.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const soak = process.argv.includes('--soak');
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dir = 'dist/test';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => (soak ? f.endsWith('.soak.test.js') : !f.endsWith('.soak.test.js')))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => join(dir, f));
const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
