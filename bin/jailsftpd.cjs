#!/usr/bin/env -S node --single-threaded-gc
// jailsftpd's command (package.json bin, npm start, deploy/jailsftpd.service). CommonJS on purpose:
// libuv's thread pool starts with the first asynchronous file read, which loading an ES module
// entry does before any of its code runs; here its size is set first (server/threadpool.ts).
//
// 16 threads when homes may be on a network filesystem (config homesIo "pool", or "auto" with the
// homes directory on a filesystem that is not a known local one, or that does not answer within
// 2 s): their calls run in the pool (server/fs/gate.ts: 4 per home, 12 in all). Otherwise libuv's
// default of 4: more threads only cost CPU on large uploads to a local disk (measured). An
// UV_THREADPOOL_SIZE in the environment always wins.
//
// Node's own options (bin/node-flags.cjs) are on the shebang line and in every launcher; `serve`
// says so when they are missing, e.g. after `node bin/jailsftpd.cjs serve`.
'use strict';
const { readFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const LOCAL = new Set(require('./local-fs-types.cjs'));

/** The value of a `--name VALUE` or `--name=VALUE` option of the command line, if any. */
function option(name) {
  const argv = process.argv;
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i].startsWith(name + '=')) return argv[i].slice(name.length + 1);
  }
  return undefined;
}

/** Whether the homes' calls will (or may) run in the pool. */
function homesInPool() {
  if (process.argv[2] !== 'serve') return false;
  let file = {};
  try {
    const path = option('--config');
    if (path) file = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return false; // the server itself reports a bad config
  }
  const io = file.homesIo ?? 'auto';
  if (io !== 'auto') return io === 'pool';
  const homes = option('--homes') ?? file.homes ?? 'home';
  // statfs in a child with a timeout: a hung network filesystem must not hang the start, and a
  // call in this process would start the pool
  const r = spawnSync(
    process.execPath,
    ['-e', 'process.stdout.write(String(require("fs").statfsSync(process.argv[1]).type))', homes],
    { timeout: 2000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  if (r.status !== 0) return r.error !== undefined || r.signal !== null; // missing: created local
  return !LOCAL.has(Number(r.stdout));
}

if (process.argv[2] === 'serve') {
  const missing = require('./node-flags.cjs').filter((f) => !process.execArgv.includes(f));
  if (missing.length > 0)
    process.stderr.write(
      `jailsftpd: node runs without ${missing.join(' ')}: large transfers cost about a third more ` +
        `CPU (start it with npm start, the jailsftpd command or node ${missing.join(' ')})\n`,
    );
}
if (process.env.UV_THREADPOOL_SIZE === undefined && homesInPool())
  process.env.UV_THREADPOOL_SIZE = '16';
import('../dist/server/cli.js').catch((e) => {
  process.stderr.write(`jailsftpd: ${e && e.message ? e.message : e} (run npm run build)\n`);
  process.exit(1);
});
