/**
 * The Solana JSON-RPC methods the local chain answers, in mainnet's response shapes
 * (`{context:{slot,apiVersion},value}` for the contextual ones), plus the romulus_* admin methods.
 */
import { createHash } from 'node:crypto';
import { address, getBase58Decoder, getBase58Encoder, getBase64Encoder, getCompiledTransactionMessageDecoder } from '@solana/kit';
import { encodeAccount, parseDataSlice, parseEncoding } from './account-encoding.ts';
import { LocalChain, TransactionRejected } from './local-chain.ts';
import { isTokenProgram, parsedProgramLabel } from './programs.ts';
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  invalidParams,
  MIN_CONTEXT_SLOT_NOT_REACHED,
  RpcError,
  SEND_TRANSACTION_PREFLIGHT_FAILURE,
  TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
} from './rpc-errors.ts';
import { decodeMint, decodeTokenAccount, parseUnits, uiTokenAmount } from './token-layout.ts';

export const API_VERSION = '2.2.7';
const FEATURE_SET = 3294202862;
const MAX_MULTIPLE_ACCOUNTS = 100;
const MAX_SIGNATURE_STATUSES = 256;
const MAX_AIRDROP_LAMPORTS = 1_000_000_000_000n;
const U64_MAX = 2n ** 64n - 1n;
const LAMPORTS_PER_SIGNATURE = 5000n;
const SLOTS_PER_EPOCH = 432_000;

export interface CallContext {
  chain: LocalChain;
  /** True when the request carried the state dir's admin token and came over loopback. */
  admin: boolean;
}

type Params = unknown[];
type Handler = (params: Params, ctx: CallContext) => unknown | Promise<unknown>;

// ---- parameter helpers --------------------------------------------------------------------------

function pubkeyAt(params: Params, i: number): string {
  const v = params[i];
  if (typeof v !== 'string') throw invalidParams(i >= params.length ? 'Invalid params: missing pubkey' : 'Invalid param: Invalid');
  try {
    return address(v);
  } catch {
    throw invalidParams(v.length > 44 ? 'Invalid param: WrongSize' : 'Invalid param: Invalid');
  }
}

function configAt(params: Params, i: number): Record<string, unknown> {
  const v = params[i];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidParams('Invalid params: config must be an object');
  const config = v as Record<string, unknown>;
  for (const key of ['commitment', 'preflightCommitment']) {
    const c = config[key];
    if (c !== undefined && c !== 'processed' && c !== 'confirmed' && c !== 'finalized') {
      throw invalidParams(`Invalid params: unknown variant \`${String(c)}\`, expected one of \`processed\`, \`confirmed\`, \`finalized\``);
    }
  }
  return config;
}

function checkMinContextSlot(config: Record<string, unknown>, chain: LocalChain): void {
  const min = config.minContextSlot;
  if (min === undefined || min === null) return;
  if (typeof min !== 'number' || !Number.isInteger(min) || min < 0) throw invalidParams('Invalid params: minContextSlot must be a non-negative integer');
  if (min > chain.slot) throw new RpcError(MIN_CONTEXT_SLOT_NOT_REACHED, 'Minimum context slot has not been reached', { contextSlot: chain.slot });
}

function expectArity(params: Params, min: number, max: number): void {
  if (params.length < min) throw invalidParams(`Invalid params: expected at least ${min} parameter(s)`);
  if (params.length > max) throw invalidParams(`Invalid params: expected at most ${max} parameter(s)`);
}

const withContext = (chain: LocalChain, value: unknown) => ({ context: { apiVersion: API_VERSION, slot: chain.slot }, value });

function decodeWireTransaction(data: unknown, encoding: unknown): Uint8Array {
  if (typeof data !== 'string') throw invalidParams('Invalid params: transaction must be an encoded string');
  const enc = encoding ?? 'base58';
  if (enc !== 'base58' && enc !== 'base64') throw invalidParams(`Invalid params: unsupported encoding: ${String(enc)}. Supported encodings: base58, base64`);
  try {
    return new Uint8Array(enc === 'base58' ? getBase58Encoder().encode(data) : getBase64Encoder().encode(data));
  } catch {
    throw invalidParams(`Invalid params: invalid ${enc} encoding`);
  }
}

function simulationValue(r: { err: unknown; logs: string[]; unitsConsumed: bigint }, accounts: unknown = null, replacementBlockhash: unknown = null) {
  return { accounts, err: r.err, innerInstructions: null, logs: r.logs, replacementBlockhash, returnData: null, unitsConsumed: r.unitsConsumed };
}

function tokenAmountParam(params: Params, i: number, decimals: number): bigint {
  const v = params[i];
  if (typeof v !== 'string' && typeof v !== 'number') throw invalidParams('Invalid params: amount (whole tokens) required');
  let raw: bigint;
  try {
    raw = parseUnits(String(v), decimals);
  } catch (e) {
    throw invalidParams(`Invalid params: ${(e as Error).message}`);
  }
  if (raw <= 0n || raw > U64_MAX) throw invalidParams('Invalid params: amount must be positive and fit in a u64 of raw units');
  return raw;
}

function requireAdmin(ctx: CallContext): void {
  if (!ctx.admin) throw new RpcError(-32401, 'Unauthorized: romulus_* methods need the admin token from the state dir, over loopback');
}

// ---- methods ------------------------------------------------------------------------------------

export const METHODS: Record<string, Handler> = {
  getHealth: () => 'ok',

  getVersion: () => ({ 'feature-set': FEATURE_SET, 'solana-core': API_VERSION }),

  getSlot: (params, { chain }) => {
    expectArity(params, 0, 1);
    checkMinContextSlot(configAt(params, 0), chain);
    return chain.slot;
  },

  getBlockHeight: (params, { chain }) => {
    expectArity(params, 0, 1);
    checkMinContextSlot(configAt(params, 0), chain);
    return chain.slot;
  },

  getLatestBlockhash: (params, { chain }) => {
    expectArity(params, 0, 1);
    checkMinContextSlot(configAt(params, 0), chain);
    const { blockhash, lastValidBlockHeight } = chain.lifetime();
    return withContext(chain, { blockhash, lastValidBlockHeight });
  },

  isBlockhashValid: (params, { chain }) => {
    expectArity(params, 1, 2);
    if (typeof params[0] !== 'string') throw invalidParams('Invalid params: blockhash must be a string');
    checkMinContextSlot(configAt(params, 1), chain);
    return withContext(chain, chain.isBlockhashValid(params[0]));
  },

  /** Stable per chain (derived from its mint), different between chains, as wallets expect. */
  getGenesisHash: (params, { chain }) => {
    expectArity(params, 0, 0);
    return getBase58Decoder().decode(createHash('sha256').update(`romulus-local-chain:${chain.mint}`).digest());
  },

  getEpochInfo: (params, { chain }) => {
    expectArity(params, 0, 1);
    checkMinContextSlot(configAt(params, 0), chain);
    return { absoluteSlot: chain.slot, blockHeight: chain.slot, epoch: Math.floor(chain.slot / SLOTS_PER_EPOCH), slotIndex: chain.slot % SLOTS_PER_EPOCH, slotsInEpoch: SLOTS_PER_EPOCH, transactionCount: null };
  },

  /** Base fee only: 5000 lamports per signature (the local chain has no priority-fee market). */
  getFeeForMessage: (params, { chain }) => {
    expectArity(params, 1, 2);
    if (typeof params[0] !== 'string') throw invalidParams('Invalid params: message must be a base64 string');
    checkMinContextSlot(configAt(params, 1), chain);
    let signers: number;
    try {
      const message = getCompiledTransactionMessageDecoder().decode(new Uint8Array(getBase64Encoder().encode(params[0])));
      signers = message.header.numSignerAccounts;
      if (!chain.isBlockhashValid(message.lifetimeToken)) return withContext(chain, null);
    } catch {
      throw invalidParams('Invalid params: invalid transaction message');
    }
    return withContext(chain, BigInt(signers) * LAMPORTS_PER_SIGNATURE);
  },

  getRecentPrioritizationFees: (params, { chain }) => {
    expectArity(params, 0, 1);
    if (params[0] !== undefined && (!Array.isArray(params[0]) || params[0].length > 128)) throw invalidParams('Invalid params: expected up to 128 account addresses');
    if (Array.isArray(params[0])) params[0].forEach((_, i) => pubkeyAt(params[0] as unknown[], i));
    return [{ prioritizationFee: 0, slot: chain.slot }];
  },

  getBalance: (params, { chain }) => {
    expectArity(params, 1, 2);
    const owner = pubkeyAt(params, 0);
    checkMinContextSlot(configAt(params, 1), chain);
    return withContext(chain, chain.getAccount(owner)?.lamports ?? 0n);
  },

  getAccountInfo: (params, { chain }) => {
    expectArity(params, 1, 2);
    const key = pubkeyAt(params, 0);
    const config = configAt(params, 1);
    checkMinContextSlot(config, chain);
    const encoding = parseEncoding(config.encoding, 'binary');
    const slice = parseDataSlice(config.dataSlice);
    const acct = chain.getAccount(key);
    return withContext(chain, acct ? encodeAccount(chain, acct, encoding, slice) : null);
  },

  getMultipleAccounts: (params, { chain }) => {
    expectArity(params, 1, 2);
    const keys = params[0];
    if (!Array.isArray(keys)) throw invalidParams('Invalid params: expected an array of pubkeys');
    if (keys.length > MAX_MULTIPLE_ACCOUNTS) throw invalidParams(`Too many inputs provided; max ${MAX_MULTIPLE_ACCOUNTS}`);
    const pubkeys = keys.map((_, i) => pubkeyAt(keys, i));
    const config = configAt(params, 1);
    checkMinContextSlot(config, chain);
    const encoding = parseEncoding(config.encoding, 'base64');
    const slice = parseDataSlice(config.dataSlice);
    return withContext(chain, pubkeys.map((k) => {
      const acct = chain.getAccount(k);
      return acct ? encodeAccount(chain, acct, encoding, slice) : null;
    }));
  },

  getTokenAccountsByOwner: (params, { chain }) => {
    expectArity(params, 2, 3);
    const owner = pubkeyAt(params, 0);
    const filter = params[1] as Record<string, unknown> | undefined;
    if (!filter || typeof filter !== 'object' || Array.isArray(filter) || ('mint' in filter) === ('programId' in filter)) {
      throw invalidParams('Invalid params: filter must be {"mint": <pubkey>} or {"programId": <pubkey>}');
    }
    const config = configAt(params, 2);
    checkMinContextSlot(config, chain);
    const encoding = parseEncoding(config.encoding, 'binary');
    const slice = parseDataSlice(config.dataSlice);
    let program: string;
    let mint: string | undefined;
    if ('mint' in filter) {
      // Like the real RPC: the mint's owner decides which token program's accounts are searched.
      mint = pubkeyAt([filter.mint], 0);
      const mintAccount = chain.getAccount(mint);
      if (!mintAccount) throw invalidParams('Invalid param: could not find mint');
      if (!isTokenProgram(mintAccount.owner)) throw invalidParams('Invalid param: not a Token mint');
      program = mintAccount.owner;
    } else {
      program = pubkeyAt([filter.programId], 0);
      if (!isTokenProgram(program)) throw invalidParams('Invalid param: unrecognized Token program id');
    }
    const accounts = chain.tokenAccountsOf(owner, program, mint);
    return withContext(chain, accounts.map((a) => ({ account: encodeAccount(chain, a, encoding, slice), pubkey: a.address })));
  },

  getTokenAccountBalance: (params, { chain }) => {
    expectArity(params, 1, 2);
    const key = pubkeyAt(params, 0);
    checkMinContextSlot(configAt(params, 1), chain);
    const acct = chain.getAccount(key);
    if (!acct) throw invalidParams('Invalid param: could not find account');
    const token = isTokenProgram(acct.owner) ? decodeTokenAccount(acct.data) : null;
    if (!token) throw invalidParams('Invalid param: not a Token account');
    const mint = chain.getMintState(token.mint);
    if (!mint) throw invalidParams('Invalid param: could not find mint');
    return withContext(chain, uiTokenAmount(token.amount, mint.mint.decimals));
  },

  getTokenSupply: (params, { chain }) => {
    expectArity(params, 1, 2);
    const key = pubkeyAt(params, 0);
    checkMinContextSlot(configAt(params, 1), chain);
    const acct = chain.getAccount(key);
    if (!acct) throw invalidParams('Invalid param: could not find mint');
    const mint = isTokenProgram(acct.owner) ? decodeMint(acct.data) : null;
    if (!mint) throw invalidParams('Invalid param: not a Token mint');
    return withContext(chain, uiTokenAmount(mint.supply, mint.decimals));
  },

  getMinimumBalanceForRentExemption: (params, { chain }) => {
    expectArity(params, 1, 2);
    const len = params[0];
    if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || len > 10 * 1024 * 1024) throw invalidParams('Invalid params: data length must be an integer from 0 to 10485760');
    configAt(params, 1);
    return chain.rentExempt(len);
  },

  sendTransaction: (params, { chain }) => {
    expectArity(params, 1, 2);
    const config = configAt(params, 1);
    checkMinContextSlot(config, chain);
    const bytes = decodeWireTransaction(params[0], config.encoding);
    try {
      return chain.submit(bytes).signature;
    } catch (e) {
      if (!(e instanceof TransactionRejected)) throw e;
      if (e.kind === 'decode') throw new RpcError(INVALID_PARAMS, e.message);
      if (e.kind === 'signature') throw new RpcError(TRANSACTION_SIGNATURE_VERIFICATION_FAILURE, e.message);
      if (config.skipPreflight === true && e.result) {
        // Without preflight the real cluster accepts the signature and the transaction lands as failed.
        chain.recordFailed(e.result.signature, e.result.err);
        return e.result.signature;
      }
      throw new RpcError(SEND_TRANSACTION_PREFLIGHT_FAILURE, e.message, e.result ? simulationValue(e.result) : undefined);
    }
  },

  simulateTransaction: (params, { chain }) => {
    expectArity(params, 1, 2);
    const config = configAt(params, 1);
    checkMinContextSlot(config, chain);
    const bytes = decodeWireTransaction(params[0], config.encoding);
    const replace = config.replaceRecentBlockhash === true;
    const sigVerify = config.sigVerify === true;
    if (replace && sigVerify) throw invalidParams('sigVerify may not be used with replaceRecentBlockhash');
    let wanted: { addresses: string[]; encoding: ReturnType<typeof parseEncoding> } | null = null;
    if (config.accounts !== undefined && config.accounts !== null) {
      const a = config.accounts as Record<string, unknown>;
      if (typeof a !== 'object' || !Array.isArray(a.addresses)) throw invalidParams('Invalid params: accounts.addresses must be an array');
      wanted = { addresses: a.addresses.map((_, i) => pubkeyAt(a.addresses as unknown[], i)), encoding: parseEncoding(a.encoding, 'base64') };
    }
    let r;
    try {
      r = chain.simulate(bytes, { sigVerify, replaceRecentBlockhash: replace });
    } catch (e) {
      if (e instanceof TransactionRejected) throw new RpcError(INVALID_PARAMS, e.message);
      throw e;
    }
    const accounts = wanted
      ? wanted.addresses.map((k) => {
          const acct = r.err ? null : (r.postAccounts.get(k) ?? chain.getAccount(k));
          return acct ? encodeAccount(chain, acct, wanted.encoding) : null;
        })
      : null;
    const replacement = replace ? { blockhash: chain.lifetime().blockhash, lastValidBlockHeight: chain.lifetime().lastValidBlockHeight } : null;
    return withContext(chain, simulationValue(r, accounts, replacement));
  },

  getSignatureStatuses: (params, { chain }) => {
    expectArity(params, 1, 2);
    const sigs = params[0];
    if (!Array.isArray(sigs) || !sigs.every((s) => typeof s === 'string')) throw invalidParams('Invalid params: expected an array of signatures');
    if (sigs.length > MAX_SIGNATURE_STATUSES) throw invalidParams(`Too many inputs provided; max ${MAX_SIGNATURE_STATUSES}`);
    configAt(params, 1);
    return withContext(chain, (sigs as string[]).map((s) => {
      const st = chain.signatureStatus(s);
      if (!st) return null;
      return {
        confirmationStatus: 'finalized',
        confirmations: null,
        err: st.err,
        slot: st.slot,
        status: st.err === null ? { Ok: null } : { Err: st.err },
      };
    }));
  },

  requestAirdrop: (params, { chain }) => {
    expectArity(params, 2, 3);
    const to = pubkeyAt(params, 0);
    const amount = params[1];
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0 || BigInt(amount) > MAX_AIRDROP_LAMPORTS) {
      throw invalidParams(`Invalid params: lamports must be an integer from 1 to ${MAX_AIRDROP_LAMPORTS}`);
    }
    configAt(params, 2);
    try {
      return chain.airdrop(to, BigInt(amount));
    } catch (e) {
      // e.g. a sysvar or a builtin program as recipient: the runtime refuses, as the faucet would
      throw new RpcError(INTERNAL_ERROR, (e as Error).message);
    }
  },

  // ---- admin namespace (token-guarded) ----

  romulus_info: (_params, { chain }) => ({
    mint: chain.mint,
    decimals: chain.decimals,
    tokenProgram: chain.tokenProgram,
    program: parsedProgramLabel(chain.tokenProgram),
    mintAuthority: chain.authority.address,
    slot: chain.slot,
  }),

  romulus_fund: async (params, ctx) => {
    requireAdmin(ctx);
    expectArity(params, 2, 2);
    const owner = pubkeyAt(params, 0);
    const raw = tokenAmountParam(params, 1, ctx.chain.decimals);
    const r = await ctx.chain.fund(owner, raw).catch(rejectedAsRpc);
    return { ...r, raw: raw.toString(), balance: ctx.chain.balanceOf(owner).toString() };
  },

  romulus_createTokenAccount: async (params, ctx) => {
    requireAdmin(ctx);
    expectArity(params, 1, 2);
    const owner = pubkeyAt(params, 0);
    const raw = params[1] === undefined ? 0n : tokenAmountParam(params, 1, ctx.chain.decimals);
    const r = await ctx.chain.createExtraTokenAccount(owner, raw).catch(rejectedAsRpc);
    return { ...r, raw: raw.toString(), balance: ctx.chain.balanceOf(owner).toString() };
  },

  romulus_balance: (params, { chain }) => {
    expectArity(params, 1, 1);
    const owner = pubkeyAt(params, 0);
    const raw = chain.balanceOf(owner);
    return { raw: raw.toString(), decimals: chain.decimals, ui: uiTokenAmount(raw, chain.decimals).uiAmountString };
  },
};

function rejectedAsRpc(e: unknown): never {
  if (e instanceof TransactionRejected) throw new RpcError(SEND_TRANSACTION_PREFLIGHT_FAILURE, e.message, e.result ? simulationValue(e.result) : undefined);
  throw e;
}
