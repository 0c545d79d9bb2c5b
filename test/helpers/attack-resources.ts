// Issue 6, resources: helpers shared by the npm-test and soak files.
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { TestServer, TestUser } from './server.js';
import { F, MB, Pkt, rawSftp, rssSampler, T, type Raw } from './attack.js';
import { sleep } from './proc.js';
import { Status } from '../../common/wire.js';

export const RSS_LIMIT = 256 * MB;

/** Downloads a whole file with 8 READs of 255 KiB in flight; returns MB/s. */
export async function download(r: Raw, path: string, size: number): Promise<number> {
  const h = await r.openOk(path, F.READ);
  const t0 = performance.now();
  const L = 255 * 1024;
  let next = 0;
  let got = 0;
  const worker = async (): Promise<void> => {
    while (next < size) {
      const off = next;
      next += L;
      const rep = await r.read(h, off, L);
      if (rep.type !== T.DATA) throw new Error(`read: ${rep.code} ${rep.msg}`);
      got += rep.data!.length;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await r.close(h);
  assert.equal(got, size);
  return size / MB / ((performance.now() - t0) / 1000);
}

/** Lists a directory, checking every reply's size; returns the number of names. */
export async function listAll(r: Raw, path: string): Promise<number> {
  const h = (await r.path(T.OPENDIR, path)).handle!;
  let n = 0;
  for (;;) {
    const rep = await r.req(T.READDIR, new Pkt().str(h));
    if (rep.type !== T.NAME) {
      assert.equal(rep.code, Status.EOF, `readdir: ${rep.code} ${rep.msg}`);
      break;
    }
    assert.ok(rep.length < 256 * 1024, `reply of ${rep.length} bytes`);
    n += rep.names!.length;
  }
  await r.close(h);
  return n;
}

export async function bigDirectory(
  srv: TestServer,
  user: TestUser,
  entries: number,
  clients: number,
): Promise<{ peak: number; maxReply: number }> {
  const dir = join(user.home, 'many');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < entries; i++)
    closeSync(openSync(join(dir, `entry-with-a-long-name-${i}`), 'w'));
  const sampler = rssSampler(srv.proc.pid!);
  const rs = await Promise.all(Array.from({ length: clients }, () => rawSftp(srv, user)));
  const counts = await Promise.all(rs.map((r) => listAll(r, '/many')));
  const peak = sampler.stop();
  for (const c of counts) assert.equal(c, entries + 2);
  const maxReply = Math.max(...rs.map((r) => r.maxReply));
  await Promise.all(rs.map((r) => r.end()));
  assert.ok(peak < RSS_LIMIT, `RSS ${peak}`);
  return { peak, maxReply };
}

/** STATs path every 20 ms until `done` settles; returns the slowest answer in ms and the count. */
export async function statWhile(
  r: Raw,
  path: string,
  done: Promise<unknown>,
): Promise<{ worst: number; count: number }> {
  let finished = false;
  void done.finally(() => (finished = true));
  let worst = 0;
  let count = 0;
  while (!finished) {
    const t0 = performance.now();
    const rep = await r.path(T.STAT, path);
    assert.equal(rep.type, T.ATTRS);
    worst = Math.max(worst, performance.now() - t0);
    count++;
    await sleep(20);
  }
  return { worst, count };
}

export async function sparseCheckFile(
  srv: TestServer,
  user: TestUser,
  size: number,
): Promise<{ seconds: number; maxLatency: number }> {
  const fd = openSync(join(user.home, 'sparse'), 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
  const a = await rawSftp(srv, user);
  const b = await rawSftp(srv, user);
  const t0 = performance.now();
  const hashing = a.ext(
    'check-file-name',
    new Pkt().str('/sparse').str('sha256').u64(0).u64(0).u32(0),
  );
  const { worst: maxLatency, count: probes } = await statWhile(b, '/sparse', hashing);
  const rep = await hashing;
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(rep.type, T.EXTENDED_REPLY, `${rep.code} ${rep.msg}`);
  assert.ok(probes > 3);
  await a.end();
  await b.end();
  return { seconds, maxLatency };
}
