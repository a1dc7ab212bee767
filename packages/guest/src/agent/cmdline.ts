/** Kernel command line parsing: `key=value` words; later words win. Values never carry secrets. */
export function parseCmdline(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of text.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}
