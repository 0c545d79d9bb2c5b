// The account layer on its own: session limit per user, the registry of open sessions and closing
// all of a user's sessions, and the quota ledger's lifetime (shared by logins, kept until the last
// session of a closed connection has closed its files), with a Store that counts its calls.
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Accounts, type AccountSession } from '../server/account/accounts.js';
import type { Store, UserRecord } from '../server/account/store.js';
import { Ledger, type QuotaLedger } from '../server/fs/quota.js';
import { MemoryDefence } from '../server/account/defence.js';
import { MemorySessions } from '../server/account/sessions.js';
import { MemoryTotpSteps } from '../server/account/totp-steps.js';
import { fixture } from './helpers/fixture.js';

class CountingStore implements Store {
  ledgers = 0;
  readonly defence = new MemoryDefence();
  readonly sessions = new MemorySessions();
  readonly totpSteps = new MemoryTotpSteps();
  constructor(readonly homes: string) {}
  async user(name: string): Promise<UserRecord | undefined> {
    return name === 'ann' ? { name, keys: [], quota: 5000 } : undefined;
  }
  homeOf(r: UserRecord): string {
    return join(this.homes, r.name);
  }
  async newLedger(r: UserRecord): Promise<QuotaLedger> {
    this.ledgers++;
    return new Ledger(r.quota, 0);
  }
  watch(): () => void {
    return () => undefined;
  }
  problem(): string | null {
    return null;
  }
}

/** Accounts over a CountingStore whose homes lie in a scratch directory removed after the test. */
function setup(
  t: TestContext,
  maxSessionsPerUser = 2,
): { accounts: Accounts; store: CountingStore } {
  const store = new CountingStore(fixture(t).tempDir('jailsftp-account-'));
  const accounts = new Accounts(store, { maxSessionsPerUser, allowSymlinks: false });
  return { accounts, store };
}

test('sessions per user are bounded across logins; an ended session frees its slot', async (t) => {
  const { accounts } = setup(t, 2);
  const rec = (await accounts.lookup('ann'))!;
  assert.equal(await accounts.lookup('bob'), undefined);
  const a = await accounts.login(rec);
  const b = await accounts.login(rec);
  const s1 = (await a.openSession('sftp', () => undefined)) as AccountSession;
  const s2 = (await b.openSession('exec', () => undefined)) as AccountSession;
  assert.equal(
    await b.openSession('sftp', () => undefined),
    'too many sessions for user ann (limit 2)',
  );
  assert.deepEqual(accounts.users(), ['ann']);
  assert.equal(accounts.liveSessions, 2);
  s1.end();
  s1.end(); // twice is harmless
  assert.equal(accounts.liveSessions, 1);
  await new Promise((r) => setImmediate(r)); // the slot goes back to the registry
  assert.equal(typeof (await b.openSession('sftp', () => undefined)), 'object');
  s2.end();
});

test('closeUser asks every session of the user to close; they leave the registry when they end', async (t) => {
  const { accounts } = setup(t, 8);
  const rec = (await accounts.lookup('ann'))!;
  const login = await accounts.login(rec);
  const closed: string[] = [];
  const sessions: AccountSession[] = [];
  for (const i of [1, 2, 3])
    sessions.push(
      (await login.openSession('sftp', (why) => {
        closed.push(`${i}:${why}`);
        sessions[i - 1]!.end();
      })) as AccountSession,
    );
  assert.equal(accounts.sessionsOf('ann').length, 3);
  assert.equal(accounts.closeUser('ann', 'admin'), 3);
  assert.deepEqual(closed, ['1:admin', '2:admin', '3:admin']);
  assert.equal(accounts.sessionsOf('ann').length, 0);
  assert.equal(accounts.liveSessions, 0);
  assert.equal(accounts.closeUser('ann', 'admin'), 0);
});

test('the ledger is shared by logins and kept until a closed connection has ended its sessions', async (t) => {
  const { accounts, store } = setup(t, 8);
  const rec = (await accounts.lookup('ann'))!;
  const a = await accounts.login(rec);
  const b = await accounts.login(rec);
  assert.equal(store.ledgers, 1, 'one ledger for both logins');
  let aborted = 0;
  const s = (await a.openSession('sftp', () => aborted++)) as AccountSession;
  a.logout();
  b.logout();
  assert.equal(aborted, 1, 'the connection going away ends its sessions');
  const d = await accounts.login(rec);
  await accounts.setQuota('ann', 100);
  await assert.rejects(
    d.storage
      .open('/big', {
        read: false,
        write: true,
        append: false,
        create: true,
        truncate: true,
        exclusive: false,
      })
      .then((f) => d.storage.write(f, 0, Buffer.alloc(101))),
    /quota exceeded: 100 B free/,
    'a changed quota reaches open logins',
  );
  assert.equal(store.ledgers, 1, 'still held: a session has files open');
  s.end();
  d.logout();
  await accounts.login(rec);
  assert.equal(store.ledgers, 2, 'released, then created again from the store');
});

test('a session is refused with a clear text when the registry cannot answer, and a slot taken while the connection went away is given back', async (t) => {
  const { accounts, store } = setup(t, 1);
  const rec = (await accounts.lookup('ann'))!;
  const a = await accounts.login(rec);
  const real = store.sessions;
  const down = {
    admit: () => Promise.reject(new Error('connect ECONNREFUSED')),
    release: () => Promise.resolve(),
  };
  Object.assign(store, { sessions: down });
  assert.equal(
    await a.openSession('sftp', () => undefined),
    'cannot count sessions now (store unavailable), try again later',
  );
  Object.assign(store, { sessions: real });
  // the connection goes away while its slot is being counted: the slot goes back at once
  const pending = a.openSession('sftp', () => undefined);
  a.logout();
  assert.equal(await pending, 'connection closed');
  const b = await accounts.login(rec);
  const s = await b.openSession('sftp', () => undefined);
  assert.equal(typeof s, 'object', 'the slot of the closed connection was kept');
  assert.equal(accounts.liveSessions, 1);
});
