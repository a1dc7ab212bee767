/**
 * Solana's PubSub over WebSocket, on the same port as the HTTP JSON-RPC (kit:
 * createSolanaRpcSubscriptions('ws://127.0.0.1:<port>')): signatureSubscribe, slotSubscribe and
 * accountSubscribe with their unsubscribe methods, in the validator's notification shapes. Enough for
 * @solana/kit's sendAndConfirmTransactionFactory and for wallets watching a token account.
 */
import type { Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { address } from '@solana/kit';
import { encodeAccount, parseEncoding, type AccountEncoding } from './account-encoding.ts';
import { stringifyJson } from './json.ts';
import type { BlockEvent, LocalChain } from './local-chain.ts';
import { INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR } from './rpc-errors.ts';
import { MAX_BODY_BYTES } from './server.ts';
import { API_VERSION } from './rpc-methods.ts';

const MAX_SUBSCRIPTIONS_PER_SOCKET = 256;

type Sub =
  | { kind: 'signature'; signature: string }
  | { kind: 'slot' }
  | { kind: 'account'; address: string; encoding: AccountEncoding };

const UNSUBSCRIBE: Record<string, Sub['kind']> = {
  signatureUnsubscribe: 'signature',
  slotUnsubscribe: 'slot',
  accountUnsubscribe: 'account',
};

export function attachSubscriptions(server: Server, chain: LocalChain): { close(): void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES });
  let nextId = 0;

  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    const subs = new Map<number, Sub>();
    const send = (obj: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(stringifyJson(obj));
    };
    const reply = (id: unknown, result: unknown) => send({ jsonrpc: '2.0', result, id });
    const fail = (id: unknown, code: number, message: string) => send({ jsonrpc: '2.0', error: { code, message }, id: id ?? null });
    const notify = (method: string, subscription: number, result: unknown) => send({ jsonrpc: '2.0', method, params: { result, subscription } });

    const accountValue = (addr: string, encoding: AccountEncoding) => {
      const acct = chain.getAccount(addr);
      if (!acct) return { data: ['', 'base64'], executable: false, lamports: 0, owner: '11111111111111111111111111111111', rentEpoch: 0, space: 0 };
      try {
        return encodeAccount(chain, acct, encoding);
      } catch {
        return encodeAccount(chain, acct, 'base64');
      }
    };

    const onBlock = (e: BlockEvent) => {
      for (const [id, sub] of subs) {
        if (sub.kind === 'slot') notify('slotNotification', id, { parent: Math.max(0, e.slot - 1), root: e.slot, slot: e.slot });
        else if (sub.kind === 'signature') {
          const hit = e.signatures.find((s) => s.signature === sub.signature);
          if (hit) {
            subs.delete(id); // signature subscriptions are one-shot
            notify('signatureNotification', id, { context: { apiVersion: API_VERSION, slot: e.slot }, value: { err: hit.err } });
          }
        } else if (e.accounts.includes(sub.address)) {
          notify('accountNotification', id, { context: { apiVersion: API_VERSION, slot: e.slot }, value: accountValue(sub.address, sub.encoding) });
        }
      }
    };
    const unlisten = chain.onBlock(onBlock);
    ws.on('close', unlisten);
    ws.on('error', () => ws.terminate());

    ws.on('message', (raw) => {
      let msg: any;
      try {
        msg = JSON.parse(String(raw));
      } catch {
        return fail(null, PARSE_ERROR, 'Parse error');
      }
      if (!msg || typeof msg !== 'object' || msg.jsonrpc !== '2.0' || typeof msg.method !== 'string') return fail(msg?.id, INVALID_REQUEST, 'Invalid request');
      const params: unknown[] = Array.isArray(msg.params) ? msg.params : [];
      const { id, method } = msg;

      if (method in UNSUBSCRIBE) {
        const sub = subs.get(params[0] as number);
        if (!sub || sub.kind !== UNSUBSCRIBE[method]) return fail(id, INVALID_PARAMS, 'Invalid subscription id.');
        subs.delete(params[0] as number);
        return reply(id, true);
      }
      if (!['signatureSubscribe', 'slotSubscribe', 'accountSubscribe'].includes(method)) return fail(id, METHOD_NOT_FOUND, 'Method not found');
      if (subs.size >= MAX_SUBSCRIPTIONS_PER_SOCKET) return fail(id, INVALID_PARAMS, `Too many subscriptions on this connection (max ${MAX_SUBSCRIPTIONS_PER_SOCKET})`);
      const subId = nextId++;
      const config = (params[1] && typeof params[1] === 'object' ? params[1] : {}) as Record<string, unknown>;
      if (method === 'slotSubscribe') {
        subs.set(subId, { kind: 'slot' });
        return reply(id, subId);
      }
      if (method === 'signatureSubscribe') {
        if (typeof params[0] !== 'string' || !/^[1-9A-HJ-NP-Za-km-z]{64,88}$/.test(params[0])) return fail(id, INVALID_PARAMS, 'Invalid params: invalid signature');
        // Like a validator: only signatures processed after subscribing notify (clients race
        // getSignatureStatuses for the ones already processed, as kit does).
        subs.set(subId, { kind: 'signature', signature: params[0] });
        return reply(id, subId);
      }
      // accountSubscribe
      let addr: string;
      let encoding: AccountEncoding;
      try {
        addr = address(String(params[0]));
        encoding = parseEncoding(config.encoding, 'binary');
      } catch {
        return fail(id, INVALID_PARAMS, 'Invalid params: expected [pubkey, {encoding}]');
      }
      subs.set(subId, { kind: 'account', address: addr, encoding });
      return reply(id, subId);
    });
  });

  return {
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}
