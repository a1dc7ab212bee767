import { abortError } from '../guest/channel.ts';

/**
 * Flintlock-style steps: each has a name, a `shouldDo` that looks at the world ("does this TAP exist?")
 * and a `do`. Running a plan twice is harmless: what is already done is skipped. `undo` (optional) rolls
 * back what `do` created when a later step fails.
 */
export interface Step {
  name: string;
  shouldDo(): Promise<boolean> | boolean;
  do(): Promise<void>;
  undo?(): Promise<void>;
}

export class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly cause: unknown,
  ) {
    super(`${step}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StepFailed';
  }
}

export interface PlanHooks {
  signal?: AbortSignal;
  onStep?(name: string, phase: 'skip' | 'done' | 'undone' | 'undo-failed', ms: number, err?: unknown): void;
}

/**
 * Runs the steps in order. On failure (or abort) undoes the steps this run performed, in reverse, and
 * throws StepFailed naming the step (undo errors are reported through onStep, never hide the cause).
 */
export async function runPlan(steps: Step[], hooks: PlanHooks = {}): Promise<void> {
  const done: Step[] = [];
  for (const step of steps) {
    const t0 = Date.now();
    let started = false;
    try {
      if (hooks.signal?.aborted) throw abortError(hooks.signal);
      if (!(await step.shouldDo())) {
        hooks.onStep?.(step.name, 'skip', 0);
        continue;
      }
      started = true;
      await step.do();
      done.push(step);
      hooks.onStep?.(step.name, 'done', Date.now() - t0);
    } catch (err) {
      // The failing step may have half-created something: give it the chance to clean up too.
      await rollback(started ? [...done, step] : done, hooks);
      throw new StepFailed(step.name, err);
    }
  }
}

async function rollback(steps: Step[], hooks: PlanHooks): Promise<void> {
  for (const s of [...steps].reverse()) {
    if (!s.undo) continue;
    const t0 = Date.now();
    try {
      await s.undo();
      hooks.onStep?.(s.name, 'undone', Date.now() - t0);
    } catch (e) {
      hooks.onStep?.(s.name, 'undo-failed', Date.now() - t0, e);
    }
  }
}
