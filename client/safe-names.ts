// What a server supplies is not to be trusted: a name it lists is not a path (a hostile server
// listing `../x` must not make us write outside the target directory, as OpenSSH's "Server sent
// suspect path" and scp after CVE-2019-6111), and text it sends must not drive the terminal.

/**
 * true for a name that must not be joined to a local path: empty, `.` or `..`, or containing `/`
 * or NUL.
 */
export function isSuspiciousName(name: string): boolean {
  return name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0');
}

/** The line printed for a name refused by isSuspiciousName. */
export function suspiciousNameMessage(name: string): string {
  return `skipping suspicious name "${escapeForTerminal(name)}"`;
}

/**
 * Makes text safe to print: C0 controls (0x00-0x1f), DEL (0x7f) and C1 controls (0x80-0x9f)
 * become `\xHH` (two lowercase hex digits), so that a file name cannot move the cursor or change
 * the terminal title. Backslashes are left as they are.
 */
export function escapeForTerminal(s: string): string {
  return s.replace(
    /[\x00-\x1f\x7f-\x9f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
