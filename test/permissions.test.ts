// Permissions (issue 13) with real clients: a read-only user lists, downloads and hashes while
// every write (put, mkdir, rm, rename, chmod, SETSTAT size, copy-data, posix-rename) is refused
// with nothing changed on disk (OpenSSH sftp and ssh, lftp, paramiko); nested per-directory rules
// and renames across directories with different rights; a live change reaching an open session
// within a second; the audit events; and the path matching itself.
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { fixture } from './helpers/fixture.js';
import { waitFor } from './helpers/proc.js';
import type { TestServer, TestUser } from './helpers/server.js';
import { lftp, sftpBatch, sshKey } from './helpers/clients.js';
import { auditEvents, sha256 } from './helpers/files.js';
import { pyAs } from './helpers/run.js';
import { needs } from './helpers/tools.js';
import {
  governingRule,
  normalizePath,
  parsePermArg,
  rightsAt,
  type PermRules,
} from '../server/account/permissions.js';

const DENIED = { code: 3, msg: 'Permission denied' };

/** Every file and directory under a home: path → sha256 of a file's bytes, or its mode. */
function snapshot(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    const key = `${prefix}/${name}`;
    if (st.isDirectory()) {
      out[key] = `dir ${(st.mode & 0o7777).toString(8)}`;
      Object.assign(out, snapshot(p, key));
    } else out[key] = `${sha256(readFileSync(p))} ${(st.mode & 0o7777).toString(8)}`;
  }
  return out;
}

interface Audited {
  event: string;
  user?: string;
  path?: string;
  reason?: string;
  status: string;
}

function audited(file: string): Audited[] {
  return auditEvents<Audited>(file);
}

async function server(t: TestContext): Promise<TestServer & { audit: string; local: string }> {
  const fx = fixture(t);
  const dir = fx.tempDir('jailsftp-perms-');
  const srv = await fx.server({
    dir,
    config: { auditLog: join(dir, 'audit.log'), shutdownGrace: 3 },
  });
  return Object.assign(srv, { audit: join(dir, 'audit.log'), local: fx.tempDir('jailsftp-pl-') });
}

function cli(srv: TestServer, args: string[]): string {
  const r = srv.cli(args);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** paramiko ops (test/py/perm_ops.py): one result per op. */
async function ops(
  srv: TestServer,
  u: TestUser,
  list: string[],
): Promise<Record<string, unknown>[]> {
  const { r, lines } = await pyAs('perm_ops.py', srv, u, list);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(lines.length, list.length, r.stdout);
  return lines;
}

const pick = (l: Record<string, unknown>) => ({ code: l.code, msg: l.msg });

test('path matching: the most specific rule at or above a path wins', () => {
  const paths = ['/incoming', '/incoming/done', '/in'];
  assert.equal(governingRule(paths, '/incoming'), '/incoming');
  assert.equal(governingRule(paths, '/incoming/x/y'), '/incoming');
  assert.equal(governingRule(paths, '/incoming/done'), '/incoming/done');
  assert.equal(governingRule(paths, '/incoming/done/a'), '/incoming/done');
  assert.equal(governingRule(paths, '/incoming/doneX'), '/incoming');
  assert.equal(governingRule(paths, '/incomingX'), undefined);
  assert.equal(governingRule(paths, '/inc'), undefined);
  assert.equal(governingRule(paths, '/'), undefined);
  assert.equal(governingRule(['/', '/a'], '/b'), '/');
  assert.equal(governingRule(['/', '/a'], '/a/b'), '/a');

  const rules: PermRules = {
    default: ['list', 'download'],
    paths: { '/incoming': ['list', 'upload'], '/incoming/done': [] },
  };
  assert.deepEqual([...rightsAt(rules, '/x')].sort(), ['download', 'list']);
  assert.deepEqual([...rightsAt(rules, '/incoming/a')].sort(), ['list', 'upload']);
  assert.deepEqual([...rightsAt(rules, '/incoming/done/a')], []);
  assert.equal(rightsAt(undefined, '/any').size, 9, 'no rules: every right');
  assert.equal(rightsAt({ paths: { '/ro': ['list'] } }, '/rw').size, 9);

  assert.equal(normalizePath('a/../../b/'), '/b');
  assert.equal(normalizePath('/x//y/.'), '/x/y');
  assert.deepEqual(parsePermArg('/incoming/=list,upload'), {
    path: '/incoming',
    perms: ['list', 'upload'],
  });
  assert.deepEqual(parsePermArg('/a/../b='), { path: '/b', perms: 'remove' });
  assert.deepEqual(parsePermArg('/c=none'), { path: '/c', perms: [] });
  assert.throws(() => parsePermArg('/c=list,fly'), /unknown permission "fly"/);
  assert.throws(() => parsePermArg('rel=list'), /absolute/);
  assert.throws(() => parsePermArg('/c'), /PATH=/);
});

test(
  'read-only: list, download and hash work; every write is refused, nothing changes on disk',
  { skip: needs('sftp', 'paramiko', 'lftp') },
  async (t) => {
    const srv = await server(t);
    const u = srv.addUser('rob', { key: true, home: true, password: 'rob-pw' });
    const content = Buffer.from('the read-only file\n'.repeat(500));
    writeFileSync(join(u.home, 'f'), content);
    writeFileSync(join(u.home, 'g'), 'other\n');
    mkdirSync(join(u.home, 'sub'));
    writeFileSync(join(u.home, 'sub', 'h'), 'in sub\n');
    assert.match(
      cli(srv, ['user', 'set', 'rob', '--read-only']),
      /default permissions list,download,check/,
    );
    assert.match(cli(srv, ['user', 'show', 'rob']), /permissions:\s+default list,download,check\n/);
    const before = snapshot(u.home);
    const up = join(srv.local, 'up');
    writeFileSync(up, 'would-be upload\n');

    // OpenSSH: ls, get and the exec hash command work
    const ok = await sftpBatch(srv, u, `ls -1\nget f ${join(srv.local, 'f')}\nls sub\n`);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^f$/m);
    assert.match(ok.stdout, /sub\/h/);
    assert.equal(sha256(readFileSync(join(srv.local, 'f'))), sha256(content));
    const hashed = await sshKey(srv, u, ['sha256sum', '/f']);
    assert.equal(hashed.status, 0, hashed.stderr);
    assert.equal(hashed.stdout, `${sha256(content)}  /f\n`);

    // OpenSSH: each write on its own ("-" keeps the batch going): all refused
    const writes = [
      `put ${up} new`,
      `put ${up} f`,
      'mkdir d',
      'rm g',
      'rmdir sub',
      'rename g g2',
      'chmod 600 f',
      'cp f f2',
    ];
    const w = await sftpBatch(srv, u, writes.map((c) => `-${c}`).join('\n') + '\n');
    const refusals = w.stderr.match(/Permission denied/g) ?? [];
    // cp: copy-data is not even advertised to a read-only user
    assert.equal(refusals.length, writes.length - 1, w.stderr);
    assert.match(w.stderr, /copy-data/);

    // lftp: ls and get work, put and mkdir fail
    const lf = await lftp(srv, u, ['cls -1', `get f -o ${join(srv.local, 'lf')}`]);
    assert.equal(lf.status, 0, lf.stderr);
    assert.match(lf.stdout, /^f$/m);
    assert.equal(sha256(readFileSync(join(srv.local, 'lf'))), sha256(content));
    for (const c of [`put ${up} -o new`, 'mkdir d', 'rm g', 'mv g g2', 'chmod 600 f']) {
      const r = await lftp(srv, u, [c]);
      assert.notEqual(r.status, 0, `lftp ${c} should fail`);
      assert.match(r.stderr, /Permission denied|Access failed/, c);
    }

    // paramiko: every operation with its exact status
    const r = await ops(srv, u, [
      'version',
      'list:/sub',
      'read:/g',
      'check:/f',
      'write:/new',
      'write:/f',
      'append:/f',
      'mkdir:/d',
      'rmdir:/sub',
      'remove:/g',
      'rename:/g:/g2',
      'posix-rename:/g:/f',
      'chmod:/f',
      'truncate:/f',
      'ftruncate:/f',
      'copy:/g:/f',
    ]);
    const exts = r[0]!.extensions as string[];
    assert.ok(!exts.includes('copy-data'), 'copy-data not advertised');
    assert.ok(exts.includes('check-file-name') && exts.includes('posix-rename@openssh.com'));
    assert.deepEqual(r[1]!.names, ['.', '..', 'h']);
    assert.equal(r[2]!.data, 'other\n');
    assert.equal(r[3]!.hex, sha256(content));
    for (const l of r.slice(4)) assert.deepEqual(pick(l), DENIED, String(l.op));

    assert.deepEqual(snapshot(u.home), before, 'nothing changed on disk');
    // the audit log is written in batches (at most 50 ms late)
    const robRefused = (): Audited[] =>
      audited(srv.audit).filter((e) => e.event === 'refused' && e.user === 'rob');
    await waitFor(() => robRefused().length >= 12, 5000, 'the refusals in the audit log').catch(
      () => undefined,
    );
    const refused = robRefused();
    assert.ok(refused.length >= 12, JSON.stringify(refused));
    assert.ok(refused.every((e) => e.reason === 'permission' && e.status === 'Permission denied'));
    assert.ok(
      refused.some((e) => e.path === '/sub'),
      'the path as the user sees it',
    );
  },
);

test(
  'per-directory rules, nested, and renames across directories with different rights',
  { skip: needs('sftp', 'paramiko') },
  async (t) => {
    const srv = await server(t);
    const u = srv.addUser('cat', { key: true, home: true, password: 'cat-pw' });
    for (const d of ['incoming/done', 'outbox', 'pub'])
      mkdirSync(join(u.home, d), { recursive: true });
    writeFileSync(join(u.home, 'pub', 'readme'), 'read me\n');
    writeFileSync(join(u.home, 'incoming', 'done', 'old'), 'processed\n');
    cli(srv, ['user', 'set', 'cat', '--read-only']);
    const set = cli(srv, [
      'user',
      'set',
      'cat',
      '--perm',
      '/incoming=list,upload,rename',
      '--perm',
      '/incoming/done/=list',
      '--perm',
      '/outbox=list,upload',
      '--perm',
      '/tmp=list,delete',
    ]);
    assert.match(set, /\/incoming\/done=list/);
    cli(srv, ['user', 'set', 'cat', '--perm', '/tmp=']); // removed again
    assert.match(
      cli(srv, ['user', 'show', 'cat']),
      /permissions:\s+default list,download,check; \/incoming=list,upload,rename; \/incoming\/done=list; \/outbox=list,upload\n/,
    );
    const up = join(srv.local, 'up');
    writeFileSync(up, 'an upload\n');

    // OpenSSH sftp: upload into /incoming, not over it, not into done, not at the top
    const a = await sftpBatch(
      srv,
      u,
      `put ${up} incoming/a\nput ${up} incoming/b\nls incoming/done\n`,
    );
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /incoming\/done\/old/);
    const b = await sftpBatch(
      srv,
      u,
      [`put ${up} incoming/a`, `put ${up} incoming/done/x`, `put ${up} top`, 'mkdir incoming/sub']
        .map((c) => `-${c}`)
        .join('\n') + '\n',
    );
    assert.equal((b.stderr.match(/Permission denied/g) ?? []).length, 4, b.stderr);
    const afterPuts = snapshot(u.home);
    assert.equal(afterPuts['/incoming/a']?.split(' ')[0], sha256('an upload\n'));

    const r = await ops(srv, u, [
      'read:/incoming/a', // no download in /incoming
      'read:/pub/readme', // the default: read-only
      'list:/incoming/done',
      'rename:/incoming/a:/incoming/done/a', // no upload in done
      'posix-rename:/incoming/a:/incoming/b', // over b: no overwrite in /incoming
      'rename:/pub/readme:/incoming/readme', // no rename in /pub
      'rename:/incoming/a:/outbox/a', // rename at the source, upload at the target
      'rename:/outbox/a:/incoming/a2', // no rename in /outbox
      'rename:/incoming/b:/incoming/c', // within /incoming
      'write:/incoming/done/y',
      'remove:/incoming/c',
      'check:/incoming/c', // no check in /incoming
    ]);
    assert.deepEqual(pick(r[0]!), DENIED);
    assert.equal(r[1]!.data, 'read me\n');
    assert.deepEqual(r[2]!.names, ['.', '..', 'old']);
    for (const i of [3, 4, 5, 7, 9, 10, 11])
      assert.deepEqual(pick(r[i]!), DENIED, String(r[i]!.op));
    for (const i of [6, 8]) assert.equal(r[i]!.code, 0, String(r[i]!.op));

    // the exec hash command obeys `check` too, file by file
    const h = await sshKey(srv, u, ['sha256sum', '/pub/readme', '/incoming/c']);
    assert.equal(h.status, 1);
    assert.equal(h.stdout, `${sha256('read me\n')}  /pub/readme\n`);
    assert.equal(h.stderr, 'sha256sum: /incoming/c: Permission denied\n');

    const now = snapshot(u.home);
    const expected = { ...afterPuts };
    expected['/outbox/a'] = expected['/incoming/a']!;
    expected['/incoming/c'] = expected['/incoming/b']!;
    delete expected['/incoming/a'];
    delete expected['/incoming/b'];
    assert.deepEqual(now, expected);
  },
);

/** An ssh2 SFTP session kept open by the test. */
async function openSession(
  srv: TestServer,
  u: TestUser,
): Promise<{ conn: ssh2.Client; sftp: SFTPWrapper }> {
  const conn = new ssh2.Client();
  await new Promise<void>((res, rej) => {
    conn.on('ready', () => res()).on('error', rej);
    conn.connect({ host: srv.host, port: srv.port, username: u.name, password: u.password });
  });
  const sftp = await new Promise<SFTPWrapper>((res, rej) =>
    conn.sftp((err, s) => (err ? rej(err) : res(s))),
  );
  return { conn, sftp };
}

const mkdir = (sftp: SFTPWrapper, p: string) =>
  new Promise<string>((res) => sftp.mkdir(p, (err) => res(err ? err.message : 'ok')));

test('a live change reaches an open session within a second', async (t) => {
  const srv = await server(t);
  const u = srv.addUser('liv', { password: 'liv-pw', home: true });
  cli(srv, ['user', 'set', 'liv', '--read-only']);
  const { conn, sftp } = await openSession(srv, u);
  t.after(() => conn.end());
  assert.equal(await mkdir(sftp, '/d0'), 'Permission denied');

  cli(srv, ['user', 'set', 'liv', '--read-write']);
  const t0 = Date.now();
  let n = 0;
  while ((await mkdir(sftp, `/d${++n}`)) !== 'ok') {
    assert.ok(Date.now() - t0 < 1500, 'still refused after 1.5 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(existsSync(join(u.home, `d${n}`)));
  // a file opened for writing while allowed: its writes stop with the rights
  const handle = await new Promise<Buffer>((res, rej) =>
    sftp.open('/w', 'w', (err, h) => (err ? rej(err) : res(h))),
  );
  const write = (data: string, at: number) =>
    new Promise<string>((res) =>
      sftp.write(handle, Buffer.from(data), 0, data.length, at, (err) =>
        res(err ? err.message : 'ok'),
      ),
    );
  assert.equal(await write('first\n', 0), 'ok');

  cli(srv, ['user', 'set', 'liv', '--read-only']);
  const t1 = Date.now();
  while ((await mkdir(sftp, `/e${++n}`)) === 'ok')
    assert.ok(Date.now() - t1 < 1500, 'still allowed after 1.5 s');
  assert.ok(!existsSync(join(u.home, `e${n}`)));
  assert.equal(await write('second\n', 6), 'Permission denied');
  await new Promise<void>((res) => sftp.close(handle, () => res()));
  assert.equal(readFileSync(join(u.home, 'w'), 'utf8'), 'first\n');
  conn.end();
});

test('handles opened while the rights are the same everywhere keep what they need when a rule arrives', async (t) => {
  const srv = await server(t);
  const u = srv.addUser('han', { password: 'han-pw', home: true });
  mkdirSync(join(u.home, 'up'));
  writeFileSync(join(u.home, 'up/old'), 'old\n');
  writeFileSync(join(u.home, 'up/linked'), 'linked\n');
  // an administrator's link at the top, to a file in /up: its rights are those of /up
  symlinkSync('up/linked', join(u.home, 'ln'));
  const { conn, sftp } = await openSession(srv, u);
  t.after(() => conn.end());
  const open = (p: string, flags: 'w' | 'r+') =>
    new Promise<Buffer>((res, rej) => sftp.open(p, flags, (err, h) => (err ? rej(err) : res(h))));
  const write = (h: Buffer, data: string) =>
    new Promise<string>((res) =>
      sftp.write(h, Buffer.from(data), 0, data.length, 0, (err) => res(err ? err.message : 'ok')),
    );
  const created = await open('/up/new', 'w'); // a new file: needs `upload`
  const replaced = await open('/up/old', 'r+'); // an existing one: needs `overwrite`
  const viaLink = await open('/ln', 'r+'); // the same, through the link
  assert.equal(await write(created, 'a'), 'ok');
  assert.equal(await write(replaced, 'b'), 'ok');
  assert.equal(await write(viaLink, 'c'), 'ok');

  cli(srv, ['user', 'set', 'han', '--perm', '/up=list,download,upload']);
  const t0 = Date.now();
  let n = 0;
  while ((await mkdir(sftp, `/up/d${++n}`)) === 'ok')
    assert.ok(Date.now() - t0 < 1500, 'the rule did not arrive in 1.5 s');
  assert.equal(await write(created, 'A'), 'ok');
  assert.equal(await write(replaced, 'B'), 'Permission denied');
  assert.equal(await write(viaLink, 'C'), 'Permission denied');
  for (const h of [created, replaced, viaLink])
    await new Promise<void>((res) => sftp.close(h, () => res()));
  assert.equal(readFileSync(join(u.home, 'up/new'), 'utf8'), 'A');
  assert.equal(readFileSync(join(u.home, 'up/old'), 'utf8'), 'bld\n');
  assert.equal(readFileSync(join(u.home, 'up/linked'), 'utf8'), 'cinked\n');
  conn.end();
});
