// Imported first by the CLI: argon2 verifications and file I/O share libuv's thread pool, whose size
// is fixed when it first starts. More threads keep logins from queueing behind disk work.
process.env.UV_THREADPOOL_SIZE ??= '8';
export {};
