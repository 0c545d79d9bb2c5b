// jailsftpd: the server and its administration commands; dispatches the command line.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { loadHostKeys } from '../ssh/hostkeys.js';
import { kickCommand, sessionsCommand } from '../ops/admin-commands.js';
import { COMMON, fail, storeOverride, UsageError } from './args.js';
import { HELP } from './help.js';
import { serve } from './serve.js';
import { storeCommand } from './store.js';
import { userCommand } from './user.js';

async function main(argv: string[]): Promise<void> {
  const cmd = argv[0];
  if (cmd === 'user') return userCommand(argv.slice(1));
  if (cmd === 'store') return storeCommand(argv.slice(1));
  if (cmd === 'hostkey') {
    const { values } = parseArgs({
      args: argv.slice(1),
      options: { ...COMMON, 'host-keys': { type: 'string' } },
    });
    if (values.help) return void console.log(HELP.hostkey);
    const cfg = loadConfig({
      ...values,
      store: storeOverride(values.store),
      hostKeys: values['host-keys'],
    });
    const keys = loadHostKeys(cfg.hostKeys);
    if (keys.length === 0)
      fail(`no host keys in ${cfg.hostKeys} (they are created on first start)`);
    for (const k of keys) console.log(k.fingerprintLine);
    return;
  }
  if (cmd === 'sessions' || cmd === 'kick') {
    const { values, positionals } = parseArgs({
      args: argv.slice(1),
      allowPositionals: true,
      options: { ...COMMON, admin: { type: 'string' }, json: { type: 'boolean' } },
    });
    if (values.help) return void console.log(HELP[cmd]);
    const admin =
      values.admin ?? loadConfig({ ...values, store: storeOverride(values.store) }).adminListen;
    if (cmd === 'sessions') return sessionsCommand(admin, values.json ?? false);
    if (!positionals[0]) fail(HELP.kick!);
    return kickCommand(admin, positionals[0]);
  }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') return void console.log(HELP.main);
  if (cmd === 'serve') return serve(argv.slice(1));
  if (cmd === undefined || cmd.startsWith('-')) return serve(argv);
  fail(`unknown command "${cmd}"\n\n${HELP.main}`);
}

/** Runs the command line; exit status 2 for usage and config errors, 1 for other failures. */
export function runCli(argv: string[]): void {
  main(argv).catch((e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`jailsftpd: ${msg}`);
    process.exit(
      e instanceof UsageError ||
        e instanceof ConfigError ||
        (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
        ? 2
        : 1,
    );
  });
}
