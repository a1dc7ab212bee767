import { CONFIGURE_FAILURE_CODES, type GuestErrorCode, type VmFailureCode } from '@romulus/shared';

/**
 * A failure whose cause the node knows: its code becomes the VM's reasonCode and its message the reason
 * as it stands (already a sentence). Anything else thrown by a create step is reported as that step's
 * failure with the error's message appended.
 */
export class VmFailure extends Error {
  constructor(
    readonly code: VmFailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'VmFailure';
  }
}

/** What a create step that throws something other than a VmFailure means. */
export const STEP_FAILURES: Record<string, { code: VmFailureCode; reason: string }> = {
  'lease-ip': { code: 'HOST_SETUP_FAILED', reason: 'could not lease an IP address' },
  'create-disk': { code: 'HOST_SETUP_FAILED', reason: 'could not create the VM disk' },
  'nft-rules': { code: 'HOST_SETUP_FAILED', reason: 'could not install the firewall rules' },
  tap: { code: 'HOST_SETUP_FAILED', reason: 'could not create the TAP device' },
  'start-vmm': { code: 'VMM_START_FAILED', reason: 'the VMM failed to start' },
  'guest-hello': { code: 'GUEST_UNREACHABLE', reason: 'the guest agent did not come up' },
  configure: { code: 'INTERNAL', reason: 'the guest agent did not start the workload' },
  'await-ready': { code: 'INTERNAL', reason: 'the workload did not become ready' },
};

/** The VM's reasonCode and reason for a failed create step. */
export function failureOf(step: string, cause: unknown): { code: VmFailureCode; reason: string } {
  if (cause instanceof VmFailure) return { code: cause.code, reason: cause.message };
  const known = STEP_FAILURES[step];
  const message = cause instanceof Error ? cause.message : String(cause);
  return { code: known?.code ?? 'INTERNAL', reason: `${known?.reason ?? step}: ${message}` };
}

/** The failure a guest `error` answering a configure stands for. */
export function configureFailure(code: GuestErrorCode, message: string): VmFailure {
  if (code === 'WORKLOAD_START_FAILED') return new VmFailure('WORKLOAD_START_FAILED', `guest agent: ${message}`);
  return new VmFailure('CONFIGURE_REFUSED', `guest agent refused the configure (${code}): ${message}`);
}

/** Whether a guest `error` answers (and ends) a configure. */
export function endsConfigure(code: unknown): code is GuestErrorCode {
  return CONFIGURE_FAILURE_CODES.includes(code as GuestErrorCode);
}

export function workloadExited(m: { code: number | null; signal: string | null }): string {
  return `workload exited (code ${m.code ?? 'none'}${m.signal ? `, signal ${m.signal}` : ''})`;
}
