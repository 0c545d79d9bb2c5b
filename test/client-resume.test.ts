// Resume and verification: transfers interrupted by killing the client or the server, then resumed
// after the partial part is checked; corrupted parts are caught.
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { exited, runClient, scratchHome, startClient } from './helpers/jailsftp.js';
import { randomFile, sha256, sha256File, sizeOf } from './helpers/files.js';
import { waitFor } from './helpers/run.js';

const BIG = 96 * 1024 * 1024;
const fx = fixture();
let srv: TestServer;
let alice: TestUser;
let home: string;
let bigSum: string;

function args(extra: string[]): string[] {
  return ['-P', String(srv.port), '-i', alice.keyFile!, '--yes', ...extra, 'alice@127.0.0.1'];
}

function prefixSha256(path: string, n: number): string {
  return sha256(readFileSync(path).subarray(0, n));
}

function flipByte(path: string, at: number): void {
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

/** Starts a client transfer and SIGKILLs it once `watch` has grown past a few MiB. */
async function killMidway(cmd: string, watch: string): Promise<number> {
  const child = startClient(args(['-c', cmd]), { home });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(
    () => sizeOf(watch) > 8 * 1024 * 1024 || child.exitCode !== null,
    30000,
    `${watch} to grow`,
  );
  child.kill('SIGKILL');
  await exited(child);
  const partial = sizeOf(watch);
  assert.ok(partial > 0 && partial < BIG, `partial size ${partial}: ${out}`);
  return partial;
}

before(async () => {
  srv = await fx.server();
  alice = srv.addUser('alice', { key: true });
  home = scratchHome(fx);
  bigSum = randomFile(join(home, 'big.bin'), BIG);
});

test('an upload killed with SIGKILL resumes after the remote part is checked', async () => {
  const remote = join(alice.home, 'up1.bin');
  const partial = await killMidway(`put big.bin up1.bin`, remote);
  const r = await runClient(args(['-c', 'put big.bin up1.bin']), { home });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\/up1\.bin is partial: .* of 96 MiB \(\d+%\)\. Resuming\./);
  const m = /the remote part \(.*\) matches; resuming at (\d+)%/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.equal(Number(m[1]), Math.floor((partial / BIG) * 100));
  assert.match(r.stdout, /big\.bin -> \/up1\.bin: .*sha256 verified/);
  assert.equal(sha256File(remote), bigSum);
});

test('reput resumes too; a corrupted remote part is caught and the file sent again', async () => {
  const remote = join(alice.home, 'up2.bin');
  await killMidway(`put big.bin up2.bin`, remote);
  flipByte(remote, 4096);
  const r = await runClient(args(['-c', 'reput big.bin up2.bin']), { home });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /the remote part of \/up2\.bin does not match big\.bin/);
  assert.match(r.stdout, /sending the whole file again/);
  assert.match(r.stdout, /big\.bin -> \/up2\.bin: 96 MiB in .*sha256 verified/);
  assert.equal(sha256File(remote), bigSum);
});

test('a download killed with SIGKILL leaves a clean prefix and resumes', async () => {
  copyFileSync(join(home, 'big.bin'), join(alice.home, 'down.bin'));
  const local = join(home, 'down.bin');
  const partial = await killMidway(`get down.bin down.bin`, local);
  assert.equal(prefixSha256(local, partial), prefixSha256(join(home, 'big.bin'), partial));
  const r = await runClient(args(['-c', 'get down.bin down.bin']), { home });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /down\.bin is partial: .*Resuming\./);
  assert.match(r.stdout, /the local part \(.*\) matches; resuming at \d+%/);
  assert.match(r.stdout, /\/down\.bin -> .*down\.bin: .*sha256 verified/);
  assert.equal(sha256File(local), bigSum);
});

test('a corrupted local part is caught before a download resumes', async () => {
  const local = join(home, 'down2.bin');
  await killMidway(`get down.bin down2.bin`, local);
  flipByte(local, 100);
  const r = await runClient(args(['-c', 'reget down.bin down2.bin']), { home });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /the local part of .*down2\.bin does not match \/down\.bin/);
  assert.match(r.stdout, /fetching the whole file again/);
  assert.equal(sha256File(local), bigSum);
});

test('an upload cut by killing the server resumes against the restarted server', async () => {
  const remote = join(alice.home, 'up3.bin');
  const child = startClient(args(['-c', 'put big.bin up3.bin']), { home });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(() => sizeOf(remote) > 8 * 1024 * 1024, 30000, 'upload to start');
  await srv.kill();
  const code = await exited(child);
  assert.equal(code, 1, err);
  assert.match(err, /put: \/up3\.bin: (Connection lost|No connection)|Connection closed/);
  const partial = sizeOf(remote);
  assert.ok(partial > 0 && partial < BIG, `partial ${partial}`);
  srv = await fx.server({ dir: srv.dir });
  const r = await runClient(args(['-c', 'put big.bin up3.bin']), { home });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /matches; resuming at \d+%/);
  assert.match(r.stdout, /sha256 verified/);
  assert.equal(sha256File(remote), bigSum);
});
