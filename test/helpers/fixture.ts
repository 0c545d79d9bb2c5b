// The one test fixture: servers, users, homes and scratch directories whose clean-up is registered with
// node:test, so that no test file writes its own teardown. `useServer(t)` for one test;
// `fixture()` at the top of a file (or a describe) for a server shared by its tests, started in `before`.
import { after as afterAll, type TestContext } from 'node:test';
import { rmSync } from 'node:fs';
import { tempDir } from './proc.js';
import {
  startServer,
  type ServerOptions,
  type TestServer,
  type TestUser,
  type UserOptions,
} from './server.js';

/** What registers a clean-up: a test's context (`t`), or nothing for the file (or describe) level. */
export type Scope = Pick<TestContext, 'after'> | undefined;

export interface FixtureServerOptions<K extends string = never> extends ServerOptions {
  /** users to add, by name (`home: true` also makes the home directory) */
  users?: Record<K, UserOptions>;
}

export type FixtureServer<K extends string = never> = TestServer & { users: Record<K, TestUser> };

/** Clean-up steps of one scope; they run once at its end, last registered first. */
export class Fixture {
  private readonly steps: (() => unknown)[] = [];

  constructor(scope: Scope) {
    // every step runs even when one fails (a server left running would hold the test process);
    // the first failure is reported
    const run = async (): Promise<void> => {
      const errors: unknown[] = [];
      for (const step of this.steps.splice(0).reverse())
        await Promise.resolve()
          .then(step)
          .catch((e: unknown) => errors.push(e));
      if (errors.length) throw errors[0];
    };
    if (scope) scope.after(run);
    else afterAll(run);
  }

  /** Runs fn at the end of the scope (before the steps registered earlier). */
  defer(fn: () => unknown): void {
    this.steps.push(fn);
  }

  /**
   * Starts the real server (stopped and its directory removed at the end) and adds `users`.
   * A restart after `srv.kill()`: `fx.server({ dir: srv.dir })`.
   */
  async server<K extends string = never>(
    opts: FixtureServerOptions<K> = {},
  ): Promise<FixtureServer<K>> {
    const { users, ...rest } = opts;
    const srv = await startServer(rest);
    this.defer(async () => {
      await srv.stop();
      srv.cleanup();
    });
    const made = {} as Record<K, TestUser>;
    for (const [name, uo] of Object.entries(users ?? {}) as [K, UserOptions][])
      made[name] = srv.addUser(name, uo);
    return Object.assign(srv, { users: made });
  }

  /** A scratch directory under the system's temporary directory, removed at the end. */
  tempDir(prefix = 'jailsftp-test-'): string {
    const dir = tempDir(prefix);
    this.defer(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }
}

const perTest = new WeakMap<object, Fixture>();

/**
 * Clean-up for a test (`fixture(t)`: the same one for every call with that t, so that everything a test
 * made is undone in reverse order) or, without t, for the file or describe it is called in.
 */
export function fixture(t?: Scope): Fixture {
  if (!t) return new Fixture(undefined);
  let fx = perTest.get(t);
  if (!fx) perTest.set(t, (fx = new Fixture(t)));
  return fx;
}

/** One server for one test, stopped and removed after it: `const srv = await useServer(t)`. */
export function useServer<K extends string = never>(
  t: Pick<TestContext, 'after'>,
  opts: FixtureServerOptions<K> = {},
): Promise<FixtureServer<K>> {
  return fixture(t).server(opts);
}
