#!/usr/bin/env node
// jailsftpd's command (package.json bin, npm start, deploy/jailsftpd.service). CommonJS on purpose:
// libuv's thread pool starts with the first asynchronous file read, which loading an ES module
// entry does before any of its code runs; here its size is set first (server/threadpool.ts).
'use strict';
process.env.UV_THREADPOOL_SIZE ??= '16';
import('../dist/server/cli.js').catch((e) => {
  process.stderr.write(`jailsftpd: ${e && e.message ? e.message : e} (run npm run build)\n`);
  process.exit(1);
});
