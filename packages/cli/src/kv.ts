import { CliError, EXIT } from './io.ts';

/** The gateway's rule for env and secret names (packages/shared/src/gateway-api.ts). */
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Commander collector for repeatable options: `--env A=1 --env B=2`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Parses KEY=VALUE pairs (the value may itself contain '='). */
export function parseAssignments(pairs: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    // The value is not echoed: it may be a secret typed without its KEY=.
    if (eq <= 0) throw new CliError(`${what} must be KEY=VALUE (one argument had no KEY=)`, EXIT.USAGE, 'BAD_ARGUMENT');
    const key = pair.slice(0, eq);
    if (!NAME.test(key)) throw new CliError(`${what} name ${JSON.stringify(key)} must match ${NAME.source}`, EXIT.USAGE, 'BAD_ARGUMENT');
    out[key] = pair.slice(eq + 1);
  }
  return out;
}

/** Secrets named by `--secret-env NAME`: the value comes from this process's environment, not the command line. */
export function secretsFromEnv(names: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    if (!NAME.test(name)) throw new CliError(`--secret-env name ${JSON.stringify(name)} must match ${NAME.source}`, EXIT.USAGE, 'BAD_ARGUMENT');
    const value = env[name];
    if (value === undefined || value === '') throw new CliError(`--secret-env ${name}: ${name} is not set in the environment`, EXIT.USAGE, 'BAD_ARGUMENT');
    out[name] = value;
  }
  return out;
}
