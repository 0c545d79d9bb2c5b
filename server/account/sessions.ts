// The session registry behind maxSessionsPerUser: admits a session when the user has fewer than
// the limit open, and forgets it when it ends. One node's memory for the file store; in a cluster
// the registry is shared (server/store/pg-sessions.ts), so that the limit holds across all nodes.

/** What the registry keeps of one session. */
export interface SessionEntry {
  /** unique among all nodes */
  id: string;
  /** the client's address */
  addr: string;
}

export interface SessionRegistry {
  /** Admits the session (undefined) or says why not, when the user has `max` sessions open. */
  admit(user: string, max: number, session: SessionEntry): Promise<string | undefined>;
  /** The session is over; unknown ids are ignored. */
  release(id: string): Promise<void>;
}

/** The refusal a client sees (on stderr of the refused channel) at the limit. */
export function sessionLimitText(user: string, max: number): string {
  return `too many sessions for user ${user} (limit ${max})`;
}

/** One node's sessions, in memory. */
export class MemorySessions implements SessionRegistry {
  private readonly byUser = new Map<string, Set<string>>();
  private readonly userOf = new Map<string, string>();

  async admit(user: string, max: number, session: SessionEntry): Promise<string | undefined> {
    let set = this.byUser.get(user);
    if ((set?.size ?? 0) >= max) return sessionLimitText(user, max);
    if (!set) this.byUser.set(user, (set = new Set()));
    set.add(session.id);
    this.userOf.set(session.id, user);
    return undefined;
  }

  async release(id: string): Promise<void> {
    const user = this.userOf.get(id);
    if (user === undefined) return;
    this.userOf.delete(id);
    const set = this.byUser.get(user);
    set?.delete(id);
    if (set?.size === 0) this.byUser.delete(user);
  }
}
