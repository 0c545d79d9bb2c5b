// Every question goes through inquirer. A Ctrl-C inside a question rejects with Interrupted.
// inquirer is loaded on the first question: batch runs and key logins to a known host never ask
// anything. Loading it costs ~0.15 s of CPU, and more: from then on every promise and callback
// pays for its async hooks (@inquirer/core's AsyncLocalStorage), which made a 256 MiB get cost
// ~0.6 s more client CPU (1.3-1.6 s instead of 2.0-2.3 s measured, alternating).
import { Interrupted } from './errors.js';
import { escapeForTerminal } from './safe-names.js';

const theme = { prefix: '' };

async function ask<T>(question: Record<string, unknown>): Promise<T> {
  try {
    // questions may name remote files: they must not drive the terminal
    const message = escapeForTerminal(String(question.message));
    const { default: inquirer } = await import('inquirer');
    const answers = (await inquirer.prompt([
      { ...question, message, name: 'v', theme },
    ] as never)) as {
      v: T;
    };
    return answers.v;
  } catch (err) {
    if ((err as Error | null)?.name === 'ExitPromptError') throw new Interrupted();
    throw err;
  }
}

export function askInput(message: string): Promise<string> {
  return ask<string>({ type: 'input', message });
}

export function askPassword(message: string): Promise<string> {
  return ask<string>({ type: 'password', message });
}

export function askConfirm(message: string, dflt: boolean): Promise<boolean> {
  return ask<boolean>({ type: 'confirm', message, default: dflt });
}

export function askChoice<T extends string>(
  message: string,
  choices: { name: string; value: T }[],
): Promise<T> {
  return ask<T>({ type: 'list', message, choices });
}
