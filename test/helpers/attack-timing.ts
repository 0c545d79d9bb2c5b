// Issue 6, timing: an unknown user, a wrong password and a wrong key must not be told apart by the
// answer or by the time it takes. Every try comes from its own loopback address, so that the
// login defence (which delays repeated failures of one address and user) stays out of the figures.
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import test, { type TestContext } from 'node:test';
import { useServer } from './fixture.js';
import { generateKeyPair } from '../../server/ssh/hostkeys.js';

type Kind = 'unknown user (password)' | 'wrong password' | 'unknown user (key)' | 'wrong key';

function attempt(
  port: number,
  user: string,
  auth: { password?: string; privateKey?: string },
  localAddress: string,
): Promise<{ ms: number; answer: string }> {
  return new Promise((res) => {
    const c = new ssh2.Client();
    let t0 = 0;
    let done = false;
    const finish = (answer: string): void => {
      if (done) return;
      done = true;
      const ms = performance.now() - t0;
      c.end();
      res({ ms, answer });
    };
    // time the authentication only: from the first auth request to the refusal
    c.on('handshake', () => (t0 = performance.now()));
    c.on('ready', () => finish('accepted'));
    c.on('error', (e) => finish(e.message));
    c.connect({
      host: '127.0.0.1',
      port,
      localAddress,
      username: user,
      ...auth,
      tryKeyboard: false,
      readyTimeout: 60000,
    });
  });
}

export interface Dist {
  kind: Kind;
  n: number;
  median: number;
  p10: number;
  p25: number;
  p75: number;
  p90: number;
  answers: string[];
}

function pct(s: number[], p: number): number {
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
}

/** Runs `tries` logins of each kind, interleaved, against a server with production argon2. */
export async function measureTiming(t: TestContext, tries: number): Promise<Dist[]> {
  const srv = await useServer(t, {
    config: { argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 } },
  });
  const known = srv.addUser('known', { key: true });
  const stranger = generateKeyPair('ed25519').private;
  const kinds: Array<[Kind, (i: number) => [string, { password?: string; privateKey?: string }]]> =
    [
      ['unknown user (password)', (i) => [`ghost${i}`, { password: 'whatever-1' }]],
      ['wrong password', () => [known.name, { password: 'whatever-1' }]],
      ['unknown user (key)', (i) => [`ghost${i}`, { privateKey: stranger }]],
      ['wrong key', () => [known.name, { privateKey: stranger }]],
    ];
  const times = kinds.map(() => [] as number[]);
  const answers = kinds.map(() => new Set<string>());
  for (let i = 0; i < tries; i++) {
    for (let k = 0; k < kinds.length; k++) {
      const [user, auth] = kinds[k]![1](i);
      const addr = `127.${30 + k}.${Math.floor(i / 250)}.${1 + (i % 250)}`;
      const r = await attempt(srv.port, user, auth, addr);
      times[k]!.push(r.ms);
      answers[k]!.add(r.answer);
    }
  }
  // the right password still works (the figures are not those of a broken server)
  const ok = await attempt(srv.port, known.name, { password: known.password }, '127.40.0.1');
  assert.equal(ok.answer, 'accepted');
  return kinds.map(([kind], k) => {
    const s = [...times[k]!].sort((a, b) => a - b);
    return {
      kind,
      n: s.length,
      median: pct(s, 50),
      p10: pct(s, 10),
      p25: pct(s, 25),
      p75: pct(s, 75),
      p90: pct(s, 90),
      answers: [...answers[k]!],
    };
  });
}

export function describe(d: Dist): string {
  const f = (x: number): string => x.toFixed(1);
  return `${d.kind}: n=${d.n} median ${f(d.median)} ms, p10 ${f(d.p10)}, p25 ${f(d.p25)}, p75 ${f(d.p75)}, p90 ${f(d.p90)}; answer "${d.answers.join('|')}"`;
}

/** Same answer everywhere; the pairs that differ only in what exists overlap (IQRs meet). */
export function assertIndistinguishable(ds: Dist[]): void {
  const answers = new Set(ds.flatMap((d) => d.answers));
  assert.equal(answers.size, 1, `different answers: ${[...answers].join(' / ')}`);
  for (const [a, b] of [
    [0, 1],
    [2, 3],
  ] as const) {
    const x = ds[a]!;
    const y = ds[b]!;
    const overlap = x.p25 <= y.p75 * 1.1 + 2 && y.p25 <= x.p75 * 1.1 + 2;
    assert.ok(overlap, `told apart by time:\n${describe(x)}\n${describe(y)}`);
  }
}

/** The timing test with `tries` logins of each kind (npm test: 30, soak: 200). */
export function timingTest(tries: number, timeout: number): void {
  test(
    `unknown user, wrong password, wrong key: same answer, same time (${tries} tries each)`,
    { timeout },
    async (t) => {
      const ds = await measureTiming(t, tries);
      for (const d of ds) t.diagnostic(describe(d));
      assertIndistinguishable(ds);
    },
  );
}
