// `jailsftpd sessions` and `jailsftpd kick NAME`: the command-line side of the admin listener, so that
// an administrator sees and acts on the running server without a browser or curl.
import type { SessionInfo } from './admin.js';
import { formatSize, formatTable } from '../../common/format.js';

/** Asks the running server's admin listener; a clear error when it is not configured or down. */
async function ask(admin: string, method: string, path: string): Promise<unknown> {
  if (!admin)
    throw new Error('no admin listener: set adminListen in the config or pass --admin HOST:PORT');
  const url = `http://${admin}${path}`;
  let res: Response;
  try {
    res = await fetch(url, { method, signal: AbortSignal.timeout(5000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new Error(`cannot reach the server's admin listener at ${admin}: ${cause}`);
  }
  const body = (await res.json()) as unknown;
  if (!res.ok) throw new Error(`${url}: ${(body as { error?: string }).error ?? res.status}`);
  return body;
}

export async function sessionsCommand(admin: string, json: boolean): Promise<void> {
  const list = (await ask(admin, 'GET', '/sessions')) as SessionInfo[];
  if (json) return void console.log(JSON.stringify(list, null, 2));
  const rows = [['USER', 'ADDRESS', 'SINCE', 'UP', 'DOWN', 'HANDLES', 'SESSION']];
  for (const s of list)
    rows.push([
      s.user,
      s.addr,
      s.since,
      formatSize(s.bytesUp),
      formatSize(s.bytesDown),
      String(s.handles),
      s.id,
    ]);
  for (const line of formatTable(rows)) console.log(line);
}

export async function kickCommand(admin: string, user: string): Promise<void> {
  const r = (await ask(admin, 'POST', `/kick?user=${encodeURIComponent(user)}`)) as {
    closed: number;
  };
  console.log(`closed ${r.closed} session(s) of ${user}`);
}
