import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { VM_STATES, type Accel, type VmState } from '@romulus/shared';

export interface MetricsSource {
  countByState(): Record<VmState, number>;
  capacity(): { vcpus: { total: number; allocated: number }; memoryMib: { total: number; allocated: number } };
  accel(): Accel;
}

/** The node's Prometheus metrics, on its own registry (several nodes may live in one test process). */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly createSeconds: Histogram<'result'>;
  readonly phaseSeconds: Histogram<'phase'>;
  readonly channelErrors: Counter<'kind'>;
  readonly reconcilerActions: Counter<'action'>;
  readonly stepFailures: Counter<'step'>;

  constructor(src: MetricsSource) {
    const r = this.registry;
    const buckets = [0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600];
    this.createSeconds = new Histogram({ name: 'romulus_node_vm_create_seconds', help: 'Create to ready (or failure), seconds', labelNames: ['result'], buckets, registers: [r] });
    this.phaseSeconds = new Histogram({ name: 'romulus_node_vm_create_phase_seconds', help: 'Create phases: vmm_start, kernel_boot, init, agent_ready', labelNames: ['phase'], buckets, registers: [r] });
    this.channelErrors = new Counter({ name: 'romulus_node_guest_channel_errors_total', help: 'Guest channel errors by kind', labelNames: ['kind'], registers: [r] });
    this.reconcilerActions = new Counter({ name: 'romulus_node_reconciler_actions_total', help: 'Repairs made by the reconciler and liveness loop', labelNames: ['action'], registers: [r] });
    this.stepFailures = new Counter({ name: 'romulus_node_step_failures_total', help: 'Lifecycle step failures by step', labelNames: ['step'], registers: [r] });
    new Gauge({
      name: 'romulus_node_vms',
      help: 'VMs by state',
      labelNames: ['state'],
      registers: [r],
      collect() {
        const c = src.countByState();
        for (const s of VM_STATES) this.set({ state: s }, c[s]);
      },
    });
    new Gauge({
      name: 'romulus_node_capacity_vcpus',
      help: 'vCPUs: total and allocated',
      labelNames: ['kind'],
      registers: [r],
      collect() {
        const c = src.capacity();
        this.set({ kind: 'total' }, c.vcpus.total);
        this.set({ kind: 'allocated' }, c.vcpus.allocated);
      },
    });
    new Gauge({
      name: 'romulus_node_capacity_memory_mib',
      help: 'Guest memory MiB: total and allocated',
      labelNames: ['kind'],
      registers: [r],
      collect() {
        const c = src.capacity();
        this.set({ kind: 'total' }, c.memoryMib.total);
        this.set({ kind: 'allocated' }, c.memoryMib.allocated);
      },
    });
    new Gauge({
      name: 'romulus_node_accel',
      help: 'Accelerator in use (1 for the active one); tcg means software emulation, much slower',
      labelNames: ['accel'],
      registers: [r],
      collect() {
        const a = src.accel();
        this.set({ accel: 'kvm' }, a === 'kvm' ? 1 : 0);
        this.set({ accel: 'tcg' }, a === 'tcg' ? 1 : 0);
      },
    });
  }
}
