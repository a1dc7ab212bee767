import { fork, type ChildProcess } from 'node:child_process';

/**
 * The server under fuzz runs in a process of its own: "no process exit" is then something the suite can see
 * (an uncaught exception or unhandled rejection ends it, as it would in production), and the load generator
 * and the server get a core each. The two talk over the fork IPC channel: request/answer by call id.
 */
export interface Target {
  call<T = any>(type: string, payload?: unknown): Promise<T>;
  /** Exit code/signal once the process has ended, else null. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Error-level log lines (pino level >= 50) and anything that is not a log line (stack traces), last 200. */
  errorLines(): string[];
  /** How many such lines in all. */
  errorCount(): number;
  /** Asks the target to shut down cleanly; resolves with its exit code. */
  close(): Promise<number | null>;
}

export async function startTarget(file: string, init: unknown): Promise<{ target: Target; ready: any }> {
  const child: ChildProcess = fork(file, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const tail: string[] = [];
  let count = 0;
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        if (!l.trim()) continue;
        const level = /^\{"level":(\d+)/.exec(l);
        if (level && Number(level[1]) < 50) continue;
        if (count++ < 20) process.stderr.write(`[target] ${l.slice(0, 2000)}\n`);
        tail.push(l);
        if (tail.length > 200) tail.shift();
      }
    });
  }
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const exitedP = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      for (const p of pending.values()) p.reject(new Error(`target exited (code ${code}, signal ${signal})`));
      pending.clear();
      resolve(code);
    }),
  );
  child.on('message', (m: any) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error));
    else p.resolve(m.result);
  });
  const target: Target = {
    call(type, payload) {
      if (exit) return Promise.reject(new Error(`target already exited (code ${exit.code}, signal ${exit.signal})`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, type, payload });
      });
    },
    exited: () => exit,
    errorLines: () => [...tail],
    errorCount: () => count,
    async close() {
      if (exit) return exit.code;
      await target.call('close').catch(() => {});
      // A close that hangs (a client socket holding the server) is a defect: kill the target and fail.
      let hung = false;
      const t = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, 15_000);
      const code = await exitedP;
      clearTimeout(t);
      if (hung) throw new Error(`target ${file} did not exit within 15 s of close (killed): its close() hangs`);
      return code;
    },
  };
  const ready = await target.call('init', init);
  return { target, ready };
}

/** The child side: answers the parent's calls with `handlers`; `close` is expected to end the process. */
export function serveCalls(handlers: Record<string, (payload: any) => Promise<unknown>>): void {
  process.on('message', async (m: any) => {
    try {
      const h = handlers[m.type];
      if (!h) throw new Error(`no handler for ${m.type}`);
      const result = await h(m.payload);
      process.send!({ id: m.id, result });
    } catch (err) {
      process.send!({ id: m.id, error: (err as Error).stack ?? String(err) });
    }
  });
}
