// Resume: every client's own resume gives a byte-identical file, and sends only what is missing.
// A marker at the end of the partial file proves the byte count: a client that resumes from the
// partial size N leaves bytes [N-16, N) alone; one that restarts or resumes earlier overwrites them.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture } from './helpers/fixture.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { needs } from './helpers/tools.js';
import {
  hostKeySha256,
  lftp as lftpRun,
  psftp as psftpRun,
  rcloneEnv,
  sftpBatch,
  sshOpts,
} from './helpers/clients.js';
import { sha256, sizeOf } from './helpers/files.js';
import { pyAs, run, waitFor, type Run } from './helpers/run.js';

const SIZE = 2 * 1024 * 1024 + 12345;
const CUT = 700_001;
const MARK = Buffer.from('<resume-marker!>');
const fx = fixture();
let srv: TestServer;
let u: TestUser;
let local: string;
let src: Buffer;
let SRC: string;
const figures: string[] = [];

before(async () => {
  srv = await fx.server();
  u = srv.addUser('alice', { key: true, home: true });
  local = fx.tempDir('jailsftp-resume-');
  src = Buffer.alloc(SIZE);
  for (let i = 0; i + 4 <= SIZE; i += 4) src.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i);
  SRC = join(local, 'src.bin');
  writeFileSync(SRC, src);
});
after(() => {
  console.log(`# resume byte counts (sent on resume / file size):\n# ${figures.join('\n# ')}`);
});

/** The first n bytes of the source, the last 16 of them replaced by the marker when marked. */
function partial(n: number, marked: boolean): Buffer {
  const p = Buffer.from(src.subarray(0, n));
  if (marked) MARK.copy(p, n - MARK.length);
  return p;
}

function expected(n: number, marked: boolean): string {
  return sha256(Buffer.concat([partial(n, marked), src.subarray(n)]));
}

type Client = (name: string, target: string) => Promise<Run>;

/**
 * Runs an upload resume twice: with a clean partial (result byte-identical to the source) and with
 * a marked one (only bytes from CUT on were sent).
 */
async function upload(label: string, go: Client): Promise<void> {
  for (const marked of [false, true]) {
    const name = `${label.replace(/\W+/g, '_')}${marked ? '_m' : ''}.bin`;
    writeFileSync(join(u.home, name), partial(CUT, marked));
    const r = await go(name, SRC);
    assert.equal(r.status, 0, `${label}: ${r.stdout}${r.stderr}`);
    const got = readFileSync(join(u.home, name));
    assert.equal(got.length, SIZE, label);
    assert.equal(sha256(got), expected(CUT, marked), `${label} marked=${marked}`);
  }
  figures.push(`${label}: ${SIZE - CUT} of ${SIZE} (resumed at ${CUT})`);
}

async function download(label: string, go: Client): Promise<void> {
  writeFileSync(join(u.home, 'dl.bin'), src);
  for (const marked of [false, true]) {
    const target = join(local, `${label.replace(/\W+/g, '_')}${marked ? '_m' : ''}.bin`);
    writeFileSync(target, partial(CUT, marked));
    const r = await go('dl.bin', target);
    assert.equal(r.status, 0, `${label}: ${r.stdout}${r.stderr}`);
    const got = readFileSync(target);
    assert.equal(got.length, SIZE, label);
    assert.equal(sha256(got), expected(CUT, marked), `${label} marked=${marked}`);
  }
  figures.push(`${label}: ${SIZE - CUT} of ${SIZE} (resumed at ${CUT})`);
}

test('OpenSSH sftp: reput, put -a, reget, get -a', { skip: needs('sftp') }, async () => {
  await upload('OpenSSH reput', (n, s) => sftpBatch(srv, u, `reput ${s} ${n}\n`));
  await upload('OpenSSH put -a', (n, s) => sftpBatch(srv, u, `put -a ${s} ${n}\n`));
  await download('OpenSSH reget', (n, t) => sftpBatch(srv, u, `reget ${n} ${t}\n`));
  await download('OpenSSH get -a', (n, t) => sftpBatch(srv, u, `get -a ${n} ${t}\n`));
});

function lftp(cmd: string): Promise<Run> {
  return lftpRun(srv, u, [cmd], { timeoutMs: 30000 });
}

test('lftp: put -c, get -c', { skip: needs('lftp') }, async () => {
  await upload('lftp put -c', (n, s) => lftp(`put -c ${s} -o ${n}`));
  await download('lftp get -c', (n, t) => lftp(`get -c ${n} -o ${t}`));
});

function psftp(commands: string): Promise<Run> {
  return psftpRun(srv, u, commands, {
    hostKeys: [hostKeySha256(srv)],
    auth: ['-pw', u.password],
    extra: ['-be'],
  });
}

test('psftp: reput, reget', { skip: needs('psftp') }, async () => {
  await upload('psftp reput', (n, s) => psftp(`reput ${s} ${n}\n`));
  await download('psftp reget', (n, t) => psftp(`reget ${n} ${t}\n`));
});

test('curl -C - (sftp://): upload and download', { skip: needs('curl') }, async () => {
  const url = (n: string): string => `sftp://${srv.host}:${srv.port}/${n}`;
  const auth = ['-sS', '-k', '-u', `${u.name}:${u.password}`, '-C', '-'];
  await upload('curl -C - upload', (n, s) => run('curl', [...auth, '-T', s, url(n)]));
  await download('curl -C - download', (n, t) => run('curl', [...auth, '-o', t, url(n)]));
});

/** resume_replay.py MODE SRC TARGET [N]: it exits 0; its JSON lines. */
async function replay(
  mode: string,
  target: string,
  n?: number,
): Promise<Record<string, unknown>[]> {
  const p = await pyAs('resume_replay.py', srv, u, [
    mode,
    SRC,
    target,
    ...(n === undefined ? [] : [n]),
  ]);
  assert.equal(p.r.status, 0, p.r.stderr);
  return p.lines;
}

test(
  'WinSCP replay: .filepart resumed, REMOVE, RENAME, SETSTAT',
  { skip: needs('paramiko') },
  async () => {
    writeFileSync(join(u.home, 'ws.bin'), 'an older version');
    await replay('winscp', 'ws.bin', CUT);
    // the dropped connection left the partial file in place
    assert.equal(statSync(join(u.home, 'ws.bin.filepart')).size, CUT);
    const res = await replay('winscp', 'ws.bin');
    assert.deepEqual(res[0], {
      mode: 'winscp',
      resumed_from: CUT,
      sent: SIZE - CUT,
      size: SIZE,
    });
    assert.equal(sha256(readFileSync(join(u.home, 'ws.bin'))), sha256(src));
    const st = statSync(join(u.home, 'ws.bin'));
    assert.equal(st.mode & 0o777, 0o640);
    assert.equal(st.mtimeMs, 1600000000 * 1000);
    assert.throws(() => statSync(join(u.home, 'ws.bin.filepart')));
    figures.push(`WinSCP replay (paramiko): ${SIZE - CUT} of ${SIZE}`);
  },
);

test(
  'FileZilla replay: OPEN WRITE, FSTAT, write from the size',
  { skip: needs('paramiko') },
  async () => {
    await replay('filezilla', 'fz.bin', CUT);
    assert.equal(statSync(join(u.home, 'fz.bin')).size, CUT);
    const res = await replay('filezilla', 'fz.bin');
    assert.deepEqual(res[0], {
      mode: 'filezilla',
      resumed_from: CUT,
      sent: SIZE - CUT,
      size: SIZE,
    });
    assert.equal(sha256(readFileSync(join(u.home, 'fz.bin'))), sha256(src));
    figures.push(`FileZilla replay (paramiko): ${SIZE - CUT} of ${SIZE}`);
  },
);

test(
  'one file written over several connections, each its own range',
  { skip: needs('paramiko', 'rclone') },
  async () => {
    // rclone 1.60 (Debian) uploads one file over one connection (multi-thread copy is for downloads
    // only); its pattern of concurrent out-of-order WRITEs on one handle is covered by a plain upload
    // with --sftp-concurrency, and the multi-connection upload is replayed with paramiko.
    const p = await replay('ranges', 'ranges.bin', 6);
    assert.deepEqual(p[0], { mode: 'ranges', connections: 6, errors: [] });
    assert.equal(sha256(readFileSync(join(u.home, 'ranges.bin'))), sha256(src));
    const env = rcloneEnv(srv, u);
    const up = await run(
      'rclone',
      ['copyto', SRC, 'j:rc.bin', '--sftp-concurrency', '64', '--sftp-chunk-size', '32Ki', '-v'],
      { env },
    );
    assert.equal(up.status, 0, up.stderr);
    assert.equal(sha256(readFileSync(join(u.home, 'rc.bin'))), sha256(src));
    const dl = join(local, 'rc-dl.bin');
    const down = await run(
      'rclone',
      [
        'copyto',
        'j:rc.bin',
        dl,
        '--multi-thread-cutoff',
        '256Ki',
        '--multi-thread-streams',
        '4',
        '-vv',
      ],
      { env },
    );
    assert.equal(down.status, 0, down.stderr);
    assert.match(down.stderr, /Finished multi-thread copy with [2-9] parts/);
    assert.equal(sha256(readFileSync(dl)), sha256(src));
  },
);

/** Starts OpenSSH sftp in its own process group, rate-limited, so that it can be killed midway. */
function slowSftp(
  commands: string,
  limitKbit = 8000,
): { done: Promise<number | null>; kill(): void } {
  const p = spawn(
    'sftp',
    [...sshOpts(srv, u), '-l', String(limitKbit), '-b', '-', `${u.name}@${srv.host}`],
    {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  p.stdin.end(commands);
  return {
    done: new Promise((r) => p.on('close', (c) => r(c))),
    kill: () => process.kill(-p.pid!, 'SIGKILL'),
  };
}

/** Waits until the partial file has 512 KiB. */
function partialWritten(path: string): Promise<void> {
  return waitFor(() => sizeOf(path) >= 512 * 1024, 20000, `512 KiB in ${path}`, 20);
}

test('upload cut by SIGKILL of the client, then reput', { skip: needs('sftp') }, async () => {
  const remote = join(u.home, 'killc.bin');
  const s = slowSftp(`put ${SRC} killc.bin\n`);
  await partialWritten(remote);
  s.kill();
  await s.done;
  await new Promise((r) => setTimeout(r, 300));
  const n = sizeOf(remote);
  assert.ok(n > 0 && n < SIZE, `partial ${n}`);
  const r = await sftpBatch(srv, u, `reput ${SRC} killc.bin\n`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(sha256(readFileSync(remote)), sha256(src));
  figures.push(`OpenSSH reput after client SIGKILL: ${SIZE - n} of ${SIZE}`);
});

test(
  'transfers cut by SIGKILL of the server, resumed after restart',
  { skip: needs('sftp', 'lftp') },
  async () => {
    const remote = join(u.home, 'kills.bin');
    const s = slowSftp(`put ${SRC} kills.bin\n`);
    await partialWritten(remote);
    await srv.kill();
    assert.notEqual(await s.done, 0, 'the client saw the transfer fail');
    const n = sizeOf(remote);
    assert.ok(n > 0 && n < SIZE, `partial ${n}`);
    srv = await fx.server({ dir: srv.dir });
    const r = await sftpBatch(srv, u, `reput ${SRC} kills.bin\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sha256(readFileSync(remote)), sha256(src));
    figures.push(`OpenSSH reput after server SIGKILL: ${SIZE - n} of ${SIZE}`);

    // a download cut the same way, resumed with lftp get -c
    const dl = join(local, 'kills-dl.bin');
    const g = slowSftp(`get kills.bin ${dl}\n`);
    await partialWritten(dl);
    await srv.kill();
    await g.done;
    const m = sizeOf(dl);
    assert.ok(m > 0 && m < SIZE, `partial ${m}`);
    srv = await fx.server({ dir: srv.dir });
    const l = await lftp(`get -c kills.bin -o ${dl}`);
    assert.equal(l.status, 0, l.stderr);
    assert.equal(sha256(readFileSync(dl)), sha256(src));
    figures.push(`lftp get -c after server SIGKILL: ${SIZE - m} of ${SIZE}`);
  },
);
