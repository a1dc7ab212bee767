import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { NODE_ERRORS, type Capacity, type Health, type NodeErrorCode, type NodeEvent, type Vm, type VmState } from '../node-api.ts';
import type { ImageManifest } from '../image.ts';
import { readServerSentEvents } from '../sse.ts';

/**
 * The node API contract (node-api.ts) pinned over HTTP, run against the real node with real VMs
 * (e2e/node/conformance.test.ts), against the real API on a fake VMM (hypercore api/conformance.test.ts)
 * and against every stand-in the gateway and CLI tests use (gateway testing/fake-node.test.ts): what a
 * client sees from a fake is what it sees from the node. Error codes come from NODE_ERRORS, never from
 * message text. Boots as few VMs as it can: one to running (and one more that is deleted while creating).
 */
export interface NodeApiSubject {
  baseUrl: string;
  token: string;
  teardown(): Promise<void>;
}

export interface NodeApiSubjectOptions {
  /** The node's capacity; small on purpose so a refusal is cheap to provoke. */
  capacity: { vcpus: number; memoryMib: number };
}

export type MakeNodeApiSubject = (opts: NodeApiSubjectOptions) => Promise<NodeApiSubject>;

export interface NodeApiConformanceOptions {
  /** An image the subject has, bootable with 1 vCPU and `memoryMib`. */
  image: string;
  memoryMib: number;
  /** Bound on creating → running (a bound, not a measurement). */
  bootTimeoutMs: number;
  /** How often GET is polled while following a VM. */
  pollMs: number;
  /**
   * What exec reaches in a running VM: `guest` a real guest agent (the command really runs), `stand-in` a
   * stand-in guest agent (a result of the right shape), `none` nothing (the node answers EXEC_FAILED).
   */
  exec: 'guest' | 'stand-in' | 'none';
  /** Whole-suite timeout for node:test. */
  timeoutMs?: number;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

const newId = () => `cf-${randomBytes(5).toString('hex')}`;
/** The order VM_STATES gives a booting VM; a VM never moves backwards along it. */
const BOOT_ORDER: readonly VmState[] = ['creating', 'starting', 'running'];

/** The shared error envelope with a code from NODE_ERRORS whose status is the one answered. */
export function assertRefused(r: Answer, code: NodeErrorCode, what = ''): void {
  const ctx = `${what} → ${r.status} ${r.text.slice(0, 300)}`;
  assert.equal(r.status, NODE_ERRORS[code], ctx);
  assert.equal(r.body?.success, false, ctx);
  assert.equal(r.body.error.code, code, ctx);
  assert.equal(typeof r.body.error.message, 'string', ctx);
  assert.ok(r.body.error.message.length > 0, ctx);
}

export function nodeApiConformance(name: string, makeSubject: MakeNodeApiSubject, o: NodeApiConformanceOptions): void {
  describe(`node API conformance: ${name}`, { timeout: o.timeoutMs ?? 10 * 60_000 }, () => {
    const capacity = { vcpus: 2, memoryMib: 2 * o.memoryMib };
    let s: NodeApiSubject;
    const api = async (
      method: string,
      p: string,
      body?: unknown,
      opts: { auth?: string | null; contentType?: string } = {},
    ): Promise<Answer> => {
      const headers: Record<string, string> = {};
      const auth = opts.auth === undefined ? `Bearer ${s.token}` : opts.auth;
      if (auth !== null) headers.authorization = auth;
      if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
      const res = await fetch(s.baseUrl.replace(/\/+$/, '') + p, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: any;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, text, body: parsed };
    };
    const vmOf = async (id: string): Promise<Vm> => {
      const r = await api('GET', `/v1/vms/${id}`);
      assert.equal(r.status, 200, r.text);
      return r.body as Vm;
    };
    const cap = async (): Promise<Capacity> => {
      const r = await api('GET', '/v1/capacity');
      assert.equal(r.status, 200, r.text);
      return r.body as Capacity;
    };
    /** Polls GET until `until` holds or a terminal state; returns the distinct states seen in order. */
    const follow = async (id: string, until: (vm: Vm) => boolean, boundMs: number) => {
      const seen: VmState[] = [];
      const deadline = Date.now() + boundMs;
      for (;;) {
        const vm = await vmOf(id);
        if (seen.at(-1) !== vm.state) seen.push(vm.state);
        if (until(vm) || vm.state === 'failed' || vm.state === 'stopped' || Date.now() > deadline) return { vm, seen };
        await sleep(o.pollMs);
      }
    };
    const spec = (over: Record<string, unknown> = {}) => ({ image: o.image, vcpus: 1, memoryMib: o.memoryMib, ...over });

    before(async () => {
      s = await makeSubject({ capacity });
    });
    after(async () => {
      await s?.teardown();
    });

    it('health answers without a token; every other route refuses a missing or wrong one with 401', async () => {
      const h = await api('GET', '/v1/health', undefined, { auth: null });
      assert.equal(h.status, 200, h.text);
      const health = h.body as Health;
      assert.ok(['ok', 'degraded'].includes(health.status));
      assert.ok(['kvm', 'tcg'].includes(health.accel));
      assert.equal(typeof health.nodeId, 'string');
      assert.equal(typeof health.driver, 'string');
      assert.equal(typeof health.uptimeSec, 'number');
      if (health.status === 'degraded') assert.equal(typeof health.warning, 'string', 'a degraded node says why');
      const routes: [string, string, unknown?][] = [
        ['GET', '/v1/vms'],
        ['POST', '/v1/vms', spec()],
        ['GET', '/v1/vms/cf-nobody'],
        ['POST', '/v1/vms/cf-nobody/stop'],
        ['DELETE', '/v1/vms/cf-nobody'],
        ['GET', '/v1/vms/cf-nobody/wait?state=running'],
        ['POST', '/v1/vms/cf-nobody/exec', { argv: ['true'] }],
        ['GET', '/v1/images'],
        ['GET', '/v1/capacity'],
        ['GET', '/v1/events'],
        ['GET', '/metrics'],
        ['GET', '/v1/no-such-route'],
      ];
      for (const [method, p, body] of routes) {
        for (const auth of [null, 'Bearer not-the-node-token', `Basic ${s.token}`, `Bearer ${s.token}x`]) {
          assertRefused(await api(method, p, body, { auth }), 'UNAUTHORIZED', `${method} ${p} with ${auth === null ? 'no token' : 'a wrong token'}`);
        }
      }
      assert.equal((await api('GET', '/v1/vms')).body.vms.length, 0, 'the refused create created nothing');
    });

    it('an unknown route is 404 NOT_FOUND; /metrics is Prometheus text', async () => {
      assertRefused(await api('GET', '/v1/no-such-route'), 'NOT_FOUND');
      assertRefused(await api('PUT', '/v1/vms'), 'NOT_FOUND');
      const m = await api('GET', '/metrics');
      assert.equal(m.status, 200);
      assert.match(m.headers.get('content-type') ?? '', /^text\/plain/);
    });

    it('images list the manifests; capacity is what the node was given, nothing allocated', async () => {
      const r = await api('GET', '/v1/images');
      assert.equal(r.status, 200, r.text);
      const img = (r.body.images as ImageManifest[]).find((i) => i.name === o.image);
      assert.ok(img, `image ${o.image} listed`);
      assert.ok(Number.isInteger(img.minVcpus) && Number.isInteger(img.minMemoryMib) && Number.isInteger(img.agentPort));
      assert.ok(img.minMemoryMib <= o.memoryMib && img.minVcpus <= 1);
      const c = await cap();
      assert.deepEqual(c.vcpus, { total: capacity.vcpus, allocated: 0, free: capacity.vcpus });
      assert.deepEqual(c.memoryMib, { total: capacity.memoryMib, allocated: 0, free: capacity.memoryMib });
      assert.deepEqual(c.vms, { total: 0, running: 0 });
      assert.ok(['kvm', 'tcg'].includes(c.accel));
    });

    it('refused creates answer their code and leave nothing behind', async () => {
      const img = ((await api('GET', '/v1/images')).body.images as ImageManifest[]).find((i) => i.name === o.image)!;
      const cases: [unknown, NodeErrorCode, string?][] = [
        [spec({ image: 'no-such-image' }), 'IMAGE_NOT_FOUND'],
        [spec({ vcpus: 0 }), 'VALIDATION_FAILED'],
        [spec({ vcpus: 1000 }), 'VALIDATION_FAILED'],
        [spec({ vcpus: '1' }), 'VALIDATION_FAILED'],
        [spec({ memoryMib: undefined }), 'VALIDATION_FAILED'],
        [spec({ extra: true }), 'VALIDATION_FAILED'],
        [spec({ id: 'Not An Id' }), 'VALIDATION_FAILED'],
        [spec({ env: { 'bad-name': 'x' } }), 'VALIDATION_FAILED'],
        [spec({ secrets: { K: 5 } }), 'VALIDATION_FAILED'],
        [[], 'VALIDATION_FAILED'],
        [spec({ env: { SAME: 'a' }, secrets: { SAME: 'b' } }), 'ENV_SECRET_CLASH'],
        [spec({ vcpus: capacity.vcpus + 1 }), 'INSUFFICIENT_CAPACITY'],
        ['{"image": "base", ', 'MALFORMED_JSON'],
        [JSON.stringify(spec()), 'UNSUPPORTED_MEDIA_TYPE', 'application/xml'],
        [JSON.stringify(spec({ env: { BIG: 'x'.repeat(1024 * 1024) } })), 'PAYLOAD_TOO_LARGE'],
      ];
      if (img.minMemoryMib > 64) cases.push([spec({ memoryMib: 64 }), 'BELOW_IMAGE_MINIMUM']);
      for (const [body, code, contentType] of cases) {
        assertRefused(await api('POST', '/v1/vms', body, { contentType }), code, JSON.stringify(body).slice(0, 120));
      }
      const over = await api('POST', '/v1/vms', spec({ vcpus: capacity.vcpus + 1 }));
      assert.deepEqual({ vcpus: over.body.error.free.vcpus, memoryMib: over.body.error.free.memoryMib }, { vcpus: capacity.vcpus, memoryMib: capacity.memoryMib });
      if (img.minMemoryMib > 64) {
        const below = await api('POST', '/v1/vms', spec({ memoryMib: 64 }));
        assert.deepEqual(below.body.error.required, { vcpus: img.minVcpus, memoryMib: img.minMemoryMib });
        assert.deepEqual(below.body.error.requested, { vcpus: 1, memoryMib: 64 });
      }
      assert.deepEqual((await api('GET', '/v1/vms')).body.vms, []);
      assert.equal((await cap()).vcpus.allocated, 0);
    });

    describe('one VM through its life', () => {
      const id = newId();
      const secret = `sk-conform-${randomBytes(12).toString('hex')}`;
      // The event stream is open for the whole life; the last case reads what it showed.
      const events: { type: string; ev: NodeEvent }[] = [];
      const stream = new AbortController();
      let reading: Promise<void>;
      before(async () => {
        const res = await fetch(`${s.baseUrl.replace(/\/+$/, '')}/v1/events`, { headers: { authorization: `Bearer ${s.token}` }, signal: stream.signal });
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
        reading = readSse(res.body!, (type, ev) => events.push({ type, ev })).catch(() => {});
        for (let i = 0; i < 200 && !events.some((e) => e.type === 'synced'); i++) await sleep(10);
      });
      after(() => stream.abort());

      it('create answers 201 with the id and state creating, no ip yet, no secret values', async () => {
        const r = await api('POST', '/v1/vms', spec({ id, env: { PLAIN: 'p' }, secrets: { CONFORM_SECRET: secret }, metadata: { owner: 'conformance' } }));
        assert.equal(r.status, 201, r.text);
        const vm = r.body as Vm;
        assert.equal(vm.id, id);
        assert.equal(vm.state, 'creating');
        assert.equal(vm.ip, undefined, 'no address before the VM runs');
        assert.equal(vm.image, o.image);
        assert.equal(vm.vcpus, 1);
        assert.equal(vm.memoryMib, o.memoryMib);
        assert.ok(Number.isInteger(vm.diskMib) && vm.diskMib > 0);
        assert.ok(Number.isInteger(vm.agentPort));
        assert.deepEqual(vm.secretNames, ['CONFORM_SECRET']);
        assert.deepEqual(vm.metadata, { owner: 'conformance' });
        assert.equal(typeof vm.createdAt, 'number');
        assert.equal(typeof vm.timings, 'object');
        assert.equal(r.text.includes(secret), false, 'secret values are never echoed');
      });

      it('while it exists: the same id is 409 VM_EXISTS; its resources are allocated; more than is left is INSUFFICIENT_CAPACITY', async () => {
        assertRefused(await api('POST', '/v1/vms', spec({ id })), 'VM_EXISTS');
        const c = await cap();
        assert.deepEqual(c.vcpus, { total: capacity.vcpus, allocated: 1, free: capacity.vcpus - 1 });
        assert.deepEqual(c.memoryMib, { total: capacity.memoryMib, allocated: o.memoryMib, free: capacity.memoryMib - o.memoryMib });
        assert.equal(c.vms.total, 1);
        const over = await api('POST', '/v1/vms', spec({ id: newId(), vcpus: capacity.vcpus }));
        assertRefused(over, 'INSUFFICIENT_CAPACITY');
        assert.equal(over.body.error.free.vcpus, capacity.vcpus - 1);
        const list = (await api('GET', '/v1/vms')).body.vms as Vm[];
        assert.deepEqual(list.map((v) => v.id), [id]);
      });

      it('GET follows it creating → starting → running, with an ip once running', { timeout: o.bootTimeoutMs + 30_000 }, async (t) => {
        const { vm, seen } = await follow(id, (v) => v.state === 'running', o.bootTimeoutMs);
        t.diagnostic(`states seen: ${seen.join(' → ')}`);
        assert.equal(vm.state, 'running', `${vm.state}: ${vm.reasonCode ?? ''} ${vm.reason ?? ''} (seen ${seen.join(' → ')})`);
        for (const st of seen) assert.ok(BOOT_ORDER.includes(st), `only boot states on the way: ${seen.join(' → ')}`);
        const ranks = seen.map((st) => BOOT_ORDER.indexOf(st));
        assert.deepEqual(ranks, [...ranks].sort(), `never backwards: ${seen.join(' → ')}`);
        assert.match(vm.ip ?? '', /^\d{1,3}(\.\d{1,3}){3}$/, 'a running VM has an IPv4 address');
        assert.equal(typeof vm.readyAt, 'number');
        assert.ok(vm.readyAt! >= vm.createdAt);
        assert.equal((await cap()).vms.running, 1);
        const listed = ((await api('GET', '/v1/vms')).body.vms as Vm[]).find((v) => v.id === id);
        assert.equal(listed?.state, 'running');
        assert.equal(listed?.ip, vm.ip);
      });

      it('wait: answers at once when there; 408 WAIT_TIMEOUT with the VM when not; bad queries 400', async () => {
        const now = await api('GET', `/v1/vms/${id}/wait?state=running&timeoutMs=60000`);
        assert.equal(now.status, 200, now.text);
        assert.equal(now.body.state, 'running');
        const late = await api('GET', `/v1/vms/${id}/wait?state=stopping&timeoutMs=1`);
        assertRefused(late, 'WAIT_TIMEOUT');
        assert.equal(late.body.error.vm.id, id);
        assert.equal(late.body.error.vm.state, 'running');
        for (const q of ['state=sleeping', 'state=running&timeoutMs=soon', 'state=running&timeoutMs=9999999', 'timeoutMs=10', 'state=running&extra=1']) {
          assertRefused(await api('GET', `/v1/vms/${id}/wait?${q}`), 'VALIDATION_FAILED', q);
        }
      });

      it('exec: a malformed body is 400; a running VM runs it (or says EXEC_FAILED without a guest agent)', { timeout: 120_000 }, async () => {
        assertRefused(await api('POST', `/v1/vms/${id}/exec`, { argv: [] }), 'VALIDATION_FAILED');
        assertRefused(await api('POST', `/v1/vms/${id}/exec`, { argv: ['true'], timeoutMs: 1 }), 'VALIDATION_FAILED');
        const r = await api('POST', `/v1/vms/${id}/exec`, { argv: ['sh', '-c', 'echo conform; exit 3'], timeoutMs: 60_000 });
        if (o.exec === 'none') {
          assertRefused(r, 'EXEC_FAILED');
        } else {
          assert.equal(r.status, 200, r.text);
          assert.ok(Number.isInteger(r.body.code) && typeof r.body.stdout === 'string' && typeof r.body.stderr === 'string', r.text);
          if (o.exec === 'guest') assert.deepEqual({ code: r.body.code, stdout: r.body.stdout }, { code: 3, stdout: 'conform\n' });
        }
      });

      it('stop answers 202 and is idempotent; the VM ends stopped without its ip; capacity is freed', { timeout: 120_000 }, async () => {
        const r = await api('POST', `/v1/vms/${id}/stop`);
        assert.equal(r.status, 202, r.text);
        assert.equal(r.body.id, id);
        assert.ok(['stopping', 'stopped'].includes(r.body.state), r.body.state);
        const w = await api('GET', `/v1/vms/${id}/wait?state=stopped&timeoutMs=90000`);
        assert.equal(w.status, 200, w.text);
        assert.equal(w.body.state, 'stopped');
        const vm = await vmOf(id);
        assert.equal(vm.state, 'stopped');
        assert.equal(vm.ip, undefined);
        assert.equal(typeof vm.stoppedAt, 'number');
        const again = await api('POST', `/v1/vms/${id}/stop`);
        assert.equal(again.status, 202, again.text);
        assert.equal(again.body.state, 'stopped');
        const c = await cap();
        assert.equal(c.vcpus.allocated, 0);
        assert.equal(c.memoryMib.allocated, 0);
        assert.equal(c.vms.running, 0);
        assertRefused(await api('POST', `/v1/vms/${id}/exec`, { argv: ['true'] }), 'VM_NOT_RUNNING');
        assertRefused(await api('POST', '/v1/vms', spec({ id })), 'VM_EXISTS', 'a stopped VM still holds its id');
      });

      it('delete answers 200 and removes it; after that every route for it is 404 VM_NOT_FOUND', async () => {
        const r = await api('DELETE', `/v1/vms/${id}`);
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.body, { success: true });
        assertRefused(await api('GET', `/v1/vms/${id}`), 'VM_NOT_FOUND');
        assertRefused(await api('DELETE', `/v1/vms/${id}`), 'VM_NOT_FOUND', 'a second delete');
        assert.deepEqual((await api('GET', '/v1/vms')).body.vms, []);
        assert.equal((await cap()).vms.total, 0);
      });

      it('GET /v1/events showed all of it: synced after the (empty) snapshot, every state in order, the address once running, then vm-deleted', async () => {
        for (let i = 0; i < 500 && !events.some((e) => e.ev.type === 'vm-deleted'); i++) await sleep(10);
        stream.abort();
        await reading;
        for (const e of events) assert.equal(e.type, e.ev.type, 'the SSE event name is the event type');
        assert.equal(events[0]?.ev.type, 'synced', 'no VMs before, so the snapshot is empty');
        const mine = events.flatMap((e) => (e.ev.type === 'vm' && e.ev.vm.id === id ? [e.ev.vm] : []));
        const states = mine.map((v) => v.state).filter((st, i, a) => a[i - 1] !== st);
        assert.equal(states[0], 'creating', states.join(' → '));
        for (const st of ['starting', 'running', 'stopped'] as const) assert.ok(states.includes(st), `saw ${st}: ${states.join(' → ')}`);
        const order = ['creating', 'starting', 'running', 'stopping', 'stopped'];
        const ranks = states.map((st) => order.indexOf(st));
        assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), `never backwards: ${states.join(' → ')}`);
        assert.match(mine.find((v) => v.state === 'running')?.ip ?? '', /^\d{1,3}(\.\d{1,3}){3}$/);
        assert.deepEqual(events.at(-1)?.ev, { type: 'vm-deleted', id });
        assert.equal(JSON.stringify(events).includes(secret), false, 'secret values never in events');
      });
    });

    it('unknown ids are 404 VM_NOT_FOUND on every per-VM route; malformed ids are 400', async () => {
      const nobody = newId();
      const routes: [string, string, unknown?][] = [
        ['GET', `/v1/vms/${nobody}`],
        ['POST', `/v1/vms/${nobody}/stop`],
        ['DELETE', `/v1/vms/${nobody}`],
        ['GET', `/v1/vms/${nobody}/wait?state=running&timeoutMs=10`],
        ['POST', `/v1/vms/${nobody}/exec`, { argv: ['true'] }],
      ];
      for (const [m, p, b] of routes) assertRefused(await api(m, p, b), 'VM_NOT_FOUND', `${m} ${p}`);
      for (const bad of ['UPPER', 'a_b', 'x'.repeat(70), '-lead']) assertRefused(await api('GET', `/v1/vms/${bad}`), 'VALIDATION_FAILED', bad);
    });

    it('a create without an id gets one; deleted while it is still booting, it is gone and frees its capacity', { timeout: 120_000 }, async () => {
      const r = await api('POST', '/v1/vms', spec());
      assert.equal(r.status, 201, r.text);
      const id = r.body.id as string;
      assert.match(id, /^[a-z0-9][a-z0-9-]{2,62}$/);
      assert.equal(r.body.state, 'creating');
      const d = await api('DELETE', `/v1/vms/${id}`);
      assert.equal(d.status, 200, d.text);
      assertRefused(await api('GET', `/v1/vms/${id}`), 'VM_NOT_FOUND');
      const c = await cap();
      assert.equal(c.vcpus.allocated, 0);
      assert.equal(c.vms.total, 0);
    });
  });
}

/** Reads server-sent events off a stream until it ends or is aborted. */
async function readSse(body: ReadableStream<Uint8Array>, onEvent: (type: string, ev: NodeEvent) => void): Promise<void> {
  for await (const { event, data } of readServerSentEvents(body)) onEvent(event, JSON.parse(data) as NodeEvent);
}
