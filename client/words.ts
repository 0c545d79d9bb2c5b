// Splitting command lines: shell-like quoting ('…', "…", backslash), and `;` between commands for -c.

/** Splits one command line into words. Throws on an unterminated quote. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (c === "'" || c === '"') {
      const j = line.indexOf(c, i + 1);
      if (j < 0) throw new Error(`unterminated ${c === '"' ? 'double' : 'single'} quote`);
      cur += line.slice(i + 1, j);
      has = true;
      i = j;
    } else if (c === ' ' || c === '\t') {
      if (has) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) words.push(cur);
  return words;
}

/** Splits `cmd; cmd` at semicolons outside quotes. */
export function splitCommands(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = '';
      cur += c;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += c + text[++i];
    } else if (c === "'" || c === '"') {
      quote = c;
      cur += c;
    } else if (c === ';' || c === '\n') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}
