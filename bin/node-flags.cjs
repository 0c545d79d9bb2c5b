// The node options `jailsftpd serve` runs with. They must be on node's command line (V8 reads them
// at start; set later with v8.setFlagsFromString the server crashed), so they are repeated where
// the server is launched: this file's users (bin/jailsftpd.cjs, the test and bench launchers), the
// shebang of bin/jailsftpd.cjs, package.json's start script and deploy/jailsftpd.service.
//
// --single-threaded-gc: V8's concurrent and parallel GC threads cost more than they save here. Every
// SSH packet read or written allocates a buffer outside V8's heap, and each 64 MiB of those starts
// a full collection: 15-30 per GiB transferred. With helper threads those cost 3 CPU s per GiB
// uploaded on a 2-core machine; on the main thread alone, about 0.1-0.4 s (bench/README.md, "Where
// the time goes: V8's GC threads").
'use strict';
module.exports = ['--single-threaded-gc'];
