// Every question goes through inquirer. A Ctrl-C inside a question rejects with Interrupted.
// inquirer is loaded on the first question: it costs ~0.25 s of CPU to load, and batch runs and
// most sessions never ask anything.
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
