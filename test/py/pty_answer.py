#!/usr/bin/env python3
# Runs a command on a pseudo-terminal and answers its prompts, for clients that read secrets only
# from a terminal (PuTTY psftp's keyboard-interactive prompts, the client's code prompt).
# Usage: pty_answer.py TIMEOUT_S PROMPT1 ANSWER1 [PROMPT2 ANSWER2 ...] -- CMD ARGS...
# Each PROMPT (a substring) is answered once, in order, when it appears; the rest of the output is
# passed through to stdout. Exits with the command's status (124 on timeout, 125 when an answered
# prompt comes again after the last answer: the answer was refused).
import os
import pty
import select
import sys
import time


def main():
    argv = sys.argv[1:]
    sep = argv.index('--')
    timeout = float(argv[0])
    pairs = argv[1:sep]
    cmd = argv[sep + 1:]
    answers = [(pairs[i].encode(), pairs[i + 1].encode()) for i in range(0, len(pairs), 2)]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    seen = b''
    asked = [p for p, _ in answers]
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            sys.stdout.write(seen.decode(errors='replace') + '\n[timeout]\n')
            sys.exit(124)
        r, _, _ = select.select([fd], [], [], min(left, 0.5))
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b''
            if not data:
                break
            seen += data
            while answers and answers[0][0] in seen:
                prompt, answer = answers.pop(0)
                # answer only after this prompt: later text is matched for the next one
                seen_at = seen.index(prompt) + len(prompt)
                sys.stdout.write(seen[:seen_at].decode(errors='replace'))
                seen = seen[seen_at:]
                os.write(fd, answer + b'\r')
            again = [p for p in asked if p in seen]
            if not answers and again:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                sys.stdout.write(seen.decode(errors='replace') + '\n[asked again]\n')
                sys.exit(125)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(seen.decode(errors='replace'))
    sys.exit(os.waitstatus_to_exitcode(status))


main()
