// Imported first by the CLI: argon2 verifications and file I/O share libuv's thread pool, whose size
// is fixed when it first starts. More threads keep logins from queueing behind disk work, and leave
// room for homes on a network filesystem that hangs: each such home holds at most a few threads
// (server/fs/gate.ts), and filesystem calls never take the last few, which argon2 keeps.
process.env.UV_THREADPOOL_SIZE ??= '16';
export {};
