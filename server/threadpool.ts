// The size of libuv's thread pool, which argon2 verifications (at most 4 at once) and the
// filesystem calls of homes on network filesystems share (server/fs/gate.ts divides it). The pool
// starts while node loads an ES module entry, before any of its code runs, so only
// UV_THREADPOOL_SIZE in the environment when node starts counts (setting it here is too late: it
// did not change the pool, measured). bin/jailsftpd.cjs (the command, `npm start`, the systemd
// unit, the test launcher) sets 16 before it loads the ES modules when homes may be in pool mode
// (23 threads in the process; 11 with libuv's default of 4, which it keeps for local homes: 16
// cost CPU on large uploads to a local disk). With 16 threads, also MALLOC_ARENA_MAX=2: glibc
// gives each thread that allocates its own arena, and 16 of them cost ~100 MB of resident memory
// under a listing flood (glibc reads it at process start: `npm start`, the systemd unit and the
// test launcher set it).
export const POOL_SIZE = Math.min(1024, Number(process.env.UV_THREADPOOL_SIZE) || 4);
