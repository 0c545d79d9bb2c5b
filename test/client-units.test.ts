// The client's seams on their own: arguments and the command table (usage errors and help come
// from it), the shared formatting module, the names check and terminal escaping, the hash worker,
// what start-up loads.
process.env.TZ = 'UTC';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  formatBytes,
  formatSize,
  humanDuration,
  humanSize,
  longname,
  lsLong,
  modeString,
  parseSize,
  percent,
} from '../common/format.js';
import { parseArgs, parseOptions, usableEntries } from '../client/commands/args.js';
import {
  COMMANDS,
  findCommand,
  helpText,
  runCommand,
  usageCount,
  usageOptions,
} from '../client/commands/table.js';
import type { FileEntryWithStats } from 'ssh2';
import type { Command, Ctx } from '../client/commands/context.js';
import { CmdError } from '../client/errors.js';
import { sharedBuffer, streamHash } from '../client/hasher.js';
import { escapeForTerminal, isSuspiciousName } from '../client/safe-names.js';
import { fixture } from './helpers/fixture.js';

function usageError(name: string, words: string[]): string {
  try {
    parseArgs(findCommand(name)!, words);
  } catch (err) {
    assert.ok(err instanceof CmdError);
    return err.message;
  }
  return 'accepted';
}

test('options: letters, clusters, -- ends them, unknown ones refused', () => {
  const a = parseOptions(['-la', 'x', '--', '-r'], 'la1');
  assert.deepEqual([...a.opts].sort(), ['a', 'l']);
  assert.deepEqual(a.rest, ['x', '-r']);
  assert.throws(
    () => parseOptions(['-x'], 'la1'),
    (err) => err instanceof CmdError && err.message === 'unknown option -x',
  );
  // a lone '-' and negative-looking words with digits are operands
  assert.deepEqual(parseOptions(['-', '-5'], 'r').rest, ['-', '-5']);
});

test('usage errors come from the table: the usage line written once', () => {
  assert.equal(usageError('put', []), 'usage: put [-r] LOCAL [REMOTE]');
  assert.equal(usageError('put', ['a', 'b', 'c']), 'usage: put [-r] LOCAL [REMOTE]');
  assert.equal(usageError('put', ['-r', 'a']), 'accepted');
  assert.equal(usageError('reput', ['-r', 'a']), 'accepted');
  assert.equal(usageError('rename', ['a']), 'usage: rename OLD NEW');
  assert.equal(usageError('chmod', ['644']), 'usage: chmod MODE PATH...');
  assert.equal(usageError('mkdir', ['a', 'b', 'c', 'd']), 'accepted');
  assert.equal(usageError('pwd', ['x']), 'usage: pwd');
  assert.equal(usageError('ls', ['-z']), 'unknown option -z');
  // commands without options take words starting with '-' as operands
  assert.equal(usageError('cd', ['-x']), 'accepted');
  assert.equal(usageError('version', ['x', 'y']), 'accepted');
  assert.equal(usageError('delete', []), 'usage: rm PATH...');
});

test('operand counts and options are read from the usage line', () => {
  assert.deepEqual(usageCount('put [-r] LOCAL [REMOTE]'), [1, 2]);
  assert.deepEqual(usageCount('chmod MODE PATH...'), [2, Infinity]);
  assert.deepEqual(usageCount('ls [-l] [-a] [PATH]'), [0, 1]);
  assert.deepEqual(usageCount('pwd'), [0, 0]);
  assert.equal(usageOptions('ls [-l] [-a] [PATH]'), 'la');
  assert.equal(usageOptions('cd [PATH]'), undefined);
});

test('help lists every command once, with its usage line; help CMD explains one', () => {
  const all = helpText();
  assert.equal(all.length, COMMANDS.length + 1);
  for (const c of COMMANDS) {
    const line = all.find((l) => l.startsWith(`${c.usage} `));
    assert.ok(line, `help shows ${c.usage}`);
    assert.ok(line.endsWith(c.help));
  }
  assert.match(all[all.length - 1]!, /^!COMMAND +run a local shell command/);
  assert.deepEqual(helpText('delete'), [
    'rm PATH...',
    '  remove remote files (globs allowed)',
    '  also: delete',
  ]);
  assert.throws(() => helpText('nope'), /unknown command nope/);
  const names = COMMANDS.flatMap((c) => c.names);
  assert.equal(new Set(names).size, names.length, 'no name twice');
});

test('sizes: parsed and printed as server and client print them', () => {
  assert.equal(parseSize('500M'), 524288000);
  assert.equal(parseSize('2GiB'), 2147483648);
  assert.equal(parseSize('1.5k'), 1536);
  assert.equal(parseSize('1kb'), 1000);
  assert.throws(() => parseSize('12 parsecs'), /invalid size/);
  assert.equal(formatSize(0), 'unlimited');
  assert.equal(formatSize(500 * 1024 * 1024), '500 MiB');
  assert.equal(formatSize(1536 * 1024 * 1024), '1.5 GiB');
  assert.equal(formatBytes(12), '12 B');
  assert.equal(formatBytes(1234), '1.2 KiB (1234 bytes)');
  assert.equal(humanSize(1023), '1023 B');
  assert.equal(humanSize(63.291139240506325), '63 B');
  assert.equal(humanSize(1536), '1.5 KiB');
  assert.equal(humanSize(34 * 1024 * 1024 + 5), '34 MiB');
  assert.equal(humanSize(2 * 1024 ** 5), '2.0 PiB');
  assert.equal(humanDuration(3.214), '3.21 s');
  assert.equal(humanDuration(245), '4m05s');
  assert.equal(humanDuration(7620), '2h07m');
  assert.equal(percent(1, 3), '33%');
  assert.equal(percent(0, 0), '100%');
});

test('ls -l: the server longname (OpenSSH columns) and the client listing', () => {
  const now = Date.UTC(2026, 5, 15, 12, 0);
  assert.equal(modeString(0o104755), '-rwsr-xr-x');
  assert.equal(modeString(0o41777), 'drwxrwxrwt');
  assert.equal(modeString(0o104755, false), '-rwxr-xr-x');
  assert.equal(modeString(0o120777, false), 'lrwxrwxrwx');
  const st = { mode: 0o100644, nlink: 1, size: 1234, mtimeMs: Date.UTC(2026, 5, 7, 9, 5) };
  assert.equal(
    longname('a.txt', st, 'alice', now),
    '-rw-r--r--   1 alice    alice        1234 Jun  7 09:05 a.txt',
  );
  const old = { ...st, mtimeMs: Date.UTC(2024, 0, 2) };
  assert.equal(
    longname('a.txt', old, 'averyverylongname', now),
    '-rw-r--r--   1 averyver averyver     1234 Jan  2  2024 a.txt',
  );
  const lines = lsLong(
    [
      { name: 'big', mode: 0o100600, size: 123456, mtime: Date.UTC(2026, 5, 7, 9, 5) / 1000 },
      { name: 'd', mode: 0o40755, size: 4096, mtime: Date.UTC(2020, 1, 29) / 1000 },
    ],
    now,
  );
  assert.deepEqual(lines, [
    '-rw------- 123456 Jun  7 09:05 big',
    'drwxr-xr-x   4096 Feb 29  2020 d',
  ]);
  // the server remembers the last date it formatted: the minute and "recent" must both match
  const at = (ms: number, nowMs = now): string => longname('f', { ...st, mtimeMs: ms }, 'u', nowMs);
  const t = Date.UTC(2026, 5, 7, 9, 5, 59, 999);
  assert.match(at(t), / Jun {2}7 09:05 f$/);
  assert.match(at(t + 1), / Jun {2}7 09:06 f$/);
  assert.match(at(t), / Jun {2}7 09:05 f$/);
  assert.match(at(t, t + 200 * 86_400_000), / Jun {2}7 {2}2026 f$/);
  assert.match(at(t), / Jun {2}7 09:05 f$/);
});

test('names from a server: only plain names may become local paths', () => {
  for (const bad of ['', '.', '..', '../x', 'a/b', '/etc', 'x\0y', 'dir/'])
    assert.equal(isSuspiciousName(bad), true, JSON.stringify(bad));
  for (const ok of ['a', '.hidden', '..x', 'x..', '...', 'a b', 'a\\b', 'na\u00efve', 'e\x1b[2J'])
    assert.equal(isSuspiciousName(ok), false, JSON.stringify(ok));
});

test('terminal escaping: C0, DEL and C1 controls become \\xHH; the rest stays', () => {
  assert.equal(escapeForTerminal('a\x1b]0;owned\x07b'), 'a\\x1b]0;owned\\x07b');
  assert.equal(escapeForTerminal('\0\n\t\x7f\x80\x9b\x9f'), '\\x00\\x0a\\x09\\x7f\\x80\\x9b\\x9f');
  assert.equal(
    escapeForTerminal('back\\slash \u00e9\u00a0\u20ac'),
    'back\\slash \u00e9\u00a0\u20ac',
  );
  assert.equal(escapeForTerminal('plain'), 'plain');
});

test('the hash worker (a compiled module) hashes shared memory and file prefixes', async (t) => {
  const fx = fixture(t);
  const dir = fx.tempDir('jailsftp-hash-');
  const saved = process.env.JAILSFTP_HASH;
  fx.defer(() => {
    if (saved === undefined) delete process.env.JAILSFTP_HASH;
    else process.env.JAILSFTP_HASH = saved;
  });
  process.env.JAILSFTP_HASH = 'worker';
  const data = Buffer.alloc(3 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  const file = join(dir, 'f.bin');
  writeFileSync(file, data);
  const h = streamHash(data.length, false);
  assert.equal(h.shared, true, 'the worker was started');
  const at = 1 << 20;
  const prefix = await h.prefix(file, at);
  assert.equal(prefix, createHash('sha256').update(data.subarray(0, at)).digest('hex'));
  const shared = sharedBuffer(data.length - at);
  data.copy(shared, 0, at);
  await h.update(shared);
  assert.equal(await h.digest(), createHash('sha256').update(data).digest('hex'));
  const short = streamHash(10, false);
  await assert.rejects(short.prefix(file, data.length + 1), /shorter than/);
  short.dispose();
});

test('names listed by a server: suspicious ones reported, the command then fails', async () => {
  const errs: string[] = [];
  const ctx = { suspicious: 0, err: (l: string) => errs.push(l) } as unknown as Ctx;
  const entry = (filename: string, mode: number): FileEntryWithStats =>
    ({ filename, longname: '', attrs: { mode } }) as unknown as FileEntryWithStats;
  const dir = 0o40755;
  const file = 0o100644;
  const list = [
    entry('.', dir),
    entry('..', dir),
    entry('ok.txt', file),
    entry('..', file),
    entry('../x', file),
    entry('a/b', dir),
    entry('', file),
    entry('n\0ul', file),
    entry('e\x1bscape', file),
  ];
  const kept = usableEntries(ctx, list).map((e) => e.filename);
  assert.deepEqual(kept, ['ok.txt', 'e\x1bscape']);
  assert.deepEqual(errs, [
    'skipping suspicious name ".."',
    'skipping suspicious name "../x"',
    'skipping suspicious name "a/b"',
    'skipping suspicious name ""',
    'skipping suspicious name "n\\x00ul"',
  ]);
  assert.equal(ctx.suspicious, 5);
  // the command runs to its end, then fails
  let ran = false;
  const cmd: Command = {
    names: ['t'],
    usage: 't',
    help: '',
    args: [],
    run: async (c) => {
      usableEntries(c, [entry('../evil', file)]);
      ran = true;
    },
  };
  await assert.rejects(
    runCommand(ctx, cmd, []),
    (err) => err instanceof CmdError && err.message === '1 suspicious name skipped',
  );
  assert.equal(ran, true);
  ctx.suspicious = 0;
  cmd.run = async () => undefined;
  await runCommand(ctx, cmd, []);
});

test('start-up: a run without a terminal loads neither inquirer nor cli-progress', () => {
  // the two cost ~0.2 s of CPU to load, on every batch run; they are loaded on first use
  const cli = join(import.meta.dirname, '../client/cli.js');
  const hook = `data:text/javascript,${encodeURIComponent(
    `import { register } from 'node:module';
     register('data:text/javascript,' + encodeURIComponent(
       'export async function resolve(s, c, next) { const r = await next(s, c);' +
       ' if (/node_modules\\\\/(inquirer|cli-progress)\\\\//.test(r.url)) process.stderr.write("LOADED " + r.url + "\\\\n");' +
       ' return r; }'));`,
  )}`;
  const r = spawnSync(process.execPath, ['--import', hook, cli, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /usage: jailsftp/);
  assert.doesNotMatch(r.stderr, /LOADED/);
  // the hook sees them when they are imported
  const r2 = spawnSync(
    process.execPath,
    ['--import', hook, '--input-type=module', '-e', "await import('inquirer')"],
    { encoding: 'utf8', cwd: join(import.meta.dirname, '../..') },
  );
  assert.match(r2.stderr, /LOADED .*inquirer/);
});
