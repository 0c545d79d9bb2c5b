// What the account layer reports as users work: audit events (one per login, logout, transfer and
// change), transferred bytes, open handles and quota refusals. The operations layer (server/ops)
// turns them into the audit log and metrics; without it they go nowhere.

export type AuditEventName =
  | 'login'
  | 'logout'
  | 'upload'
  | 'download'
  | 'remove'
  | 'rename'
  | 'mkdir'
  | 'rmdir'
  | 'setstat'
  | 'refused';

export interface AuditEvent {
  event: AuditEventName;
  user?: string;
  /** the client's address */
  addr?: string;
  /** the connection's id: every event of one login carries it */
  session?: string;
  /** the path as the user sees it; `target` is the new name of a rename */
  path?: string;
  target?: string;
  /** login method: password, keyboard-interactive, publickey */
  method?: string;
  bytes?: number;
  /** where a transfer started (a resumed one: past 0) */
  offset?: number;
  ms?: number;
  /** `ok` or the error text */
  status: string;
  /** of an upload written whole from offset 0 (out of order: only while readsUploadDigests) */
  sha256?: string;
  /** what a refusal was about */
  reason?: 'quota' | 'permission' | 'limit' | 'disabled';
}

/** A finished login attempt (a probe for a key is none), for metrics and the audit log. */
export interface Attempt {
  user: string;
  addr: string;
  session: string;
  method: string;
  ok: boolean;
  /** `ok`, or why it failed (the client is told nothing more than "denied") */
  status: string;
}

export type Direction = 'upload' | 'download';

/** Where an event of a login happened: the real path of the user's home (for upload hooks). */
export interface EventPlace {
  home: string;
}

export interface AccountObserver {
  /** `at`: given for the events of a login's storage (not part of the audit record) */
  event(e: AuditEvent, at?: EventPlace): void;
  transferred(direction: Direction, bytes: number, user: string): void;
  /** a handle was opened (+1) or closed (-1) */
  handles(delta: number): void;
  quotaRefused(): void;
  /**
   * Whether something reads each upload's sha256 (the audit log, upload hooks): only then do the
   * uploads' running hashes keep writes out of order aside (digests.ts), which costs CPU and memory.
   */
  readsUploadDigests(): boolean;
}

export const NO_OBSERVER: AccountObserver = {
  event: () => undefined,
  transferred: () => undefined,
  handles: () => undefined,
  quotaRefused: () => undefined,
  readsUploadDigests: () => false,
};
