// Issue 10: `jailsftpd user del --purge` removes the user's home and nothing else: a home outside
// --homes needs --force (refused otherwise: exit status 1, nothing removed, the user kept), and no
// symbolic link is followed, whether inside the home or the home itself. Canaries outside prove it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, type Fixture } from './helpers/fixture.js';
import type { TestServer } from './helpers/server.js';

/** A directory outside the homes (removed at the end of fx) with a canary file and a subdirectory with another. */
function outside(fx: Fixture): { dir: string; intact(): boolean } {
  const dir = fx.tempDir('jailsftp-purge-canary-');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'canary.txt'), 'canary');
  writeFileSync(join(dir, 'sub', 'deep.txt'), 'deep');
  return {
    dir,
    intact: () =>
      existsSync(join(dir, 'canary.txt')) &&
      readFileSync(join(dir, 'canary.txt'), 'utf8') === 'canary' &&
      readFileSync(join(dir, 'sub', 'deep.txt'), 'utf8') === 'deep',
  };
}

function add(srv: TestServer, name: string, extra: string[] = []): void {
  const r = srv.cli(['user', 'add', name, '--password-stdin', ...extra], 'pw-secret\n');
  assert.equal(r.status, 0, r.stderr);
}

const exists = (srv: TestServer, name: string): boolean =>
  existsSync(join(srv.usersDir, `${name}.json`));

test('user del --purge removes the home and nothing else', async (t) => {
  const fx = fixture(t);
  const srv = await fx.server();

  await t.test('a home outside --homes is refused without --force, removed with it', () => {
    const o = outside(fx);
    add(srv, 'shared', ['--home', o.dir]);
    const r = srv.cli(['user', 'del', 'shared', '--purge']);
    assert.equal(r.status, 1, r.stdout);
    assert.match(
      r.stderr,
      new RegExp(`^jailsftpd: home ${o.dir} lies outside the homes directory .*\\(use --force`),
    );
    assert.ok(o.intact(), 'nothing removed');
    assert.ok(exists(srv, 'shared'), 'the user is kept');
    // the same through a relative home that climbs out of --homes
    add(srv, 'climber', ['--home', `../../${o.dir.split('/').pop()!}`]);
    const c = srv.cli(['user', 'del', 'climber', '--purge']);
    assert.equal(c.status, 1);
    assert.ok(o.intact() && exists(srv, 'climber'));
    const f = srv.cli(['user', 'del', 'shared', '--purge', '--force']);
    assert.equal(f.status, 0, f.stderr);
    assert.ok(!existsSync(o.dir), 'removed with --force');
    assert.ok(!exists(srv, 'shared'));
  });

  await t.test('links inside the home are removed, never followed', () => {
    const o = outside(fx);
    add(srv, 'alice');
    const home = join(srv.homesDir, 'alice');
    mkdirSync(join(home, 'a', 'b'), { recursive: true });
    writeFileSync(join(home, 'a', 'b', 'own.txt'), 'own');
    symlinkSync(o.dir, join(home, 'dirlink'));
    symlinkSync(join(o.dir, 'canary.txt'), join(home, 'a', 'filelink'));
    symlinkSync(join(o.dir, 'sub'), join(home, 'a', 'b', 'sublink'));
    const r = srv.cli(['user', 'del', 'alice', '--purge']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /user alice deleted with its home/);
    assert.ok(!existsSync(home), 'home removed');
    assert.ok(o.intact(), 'nothing outside removed');
  });

  await t.test('a home that is itself a link: refused, or with --force the link only', () => {
    const o = outside(fx);
    add(srv, 'bob');
    const home = join(srv.homesDir, 'bob');
    rmSync(home, { recursive: true, force: true });
    symlinkSync(o.dir, home);
    const r = srv.cli(['user', 'del', 'bob', '--purge']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /home .*bob is a symbolic link: not removed/);
    assert.ok(o.intact() && exists(srv, 'bob'));
    const f = srv.cli(['user', 'del', 'bob', '--purge', '--force']);
    assert.equal(f.status, 0, f.stderr);
    assert.ok(!existsSync(home), 'the link is gone');
    assert.ok(o.intact(), 'what it pointed to is intact');
  });

  await t.test('a homes directory reached through a linked parent counts as outside', () => {
    const o = outside(fx);
    symlinkSync(o.dir, join(srv.homesDir, 'elsewhere'));
    add(srv, 'carol', ['--home', 'elsewhere/sub']);
    const r = srv.cli(['user', 'del', 'carol', '--purge']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /lies outside the homes directory/);
    assert.ok(o.intact() && exists(srv, 'carol'));
  });
});
