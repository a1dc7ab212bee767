/**
 * LocalChain: a LiteSVM instance plus what a real validator's RPC layer keeps beside the bank and LiteSVM
 * does not: a slot counter with a window of recent blockhashes, signature statuses, an owner index of
 * token accounts (for getTokenAccountsByOwner) and persistence of every written account to the state dir.
 *
 * Blockhashes: LiteSVM's own blockhash check only accepts its single latest hash, so it is switched off
 * and this class plays the bank: each processed transaction is one block with a fresh random blockhash,
 * and a transaction is accepted while its blockhash is among the last 150 (like mainnet's age limit).
 * Fresh random hashes after a restart also mean a transaction captured before the restart cannot be
 * replayed (LiteSVM's duplicate-signature history is in memory only).
 */
import { randomBytes } from 'node:crypto';
import {
  address,
  createKeyPairSignerFromBytes,
  createKeyPairSignerFromPrivateKeyBytes,
  generateKeyPairSigner,
  getAddressEncoder,
  getBase58Decoder,
  getBase64Decoder,
  getBase64Encoder,
  getCompiledTransactionMessageDecoder,
  getCompiledTransactionMessageEncoder,
  getTransactionDecoder,
  getTransactionEncoder,
  lamports,
  type KeyPairSigner,
  type Transaction,
} from '@solana/kit';
import { FailedTransactionMetadata, LiteSVM, TransactionMetadata } from 'litesvm';
import { isTokenProgram, TOKEN_2022_PROGRAM, TOKEN_PROGRAM } from './programs.ts';
import { decodeMint, decodeTokenAccount, MINT_SIZE, TOKEN_ACCOUNT_SIZE, type MintState } from './token-layout.ts';
import {
  ensureDir,
  readKeypairFile,
  readState,
  stateFiles,
  writeKeypairFile,
  writeState,
  type ChainStateFile,
  type SavedAccount,
} from './state-files.ts';
import { createMintInstructions, extraTokenAccountInstructions, fundInstructions, signAndEncode, transferInstructions, type Lifetime } from './transactions.ts';
import { transactionErrorJson } from './tx-errors.ts';

export const BLOCKHASH_WINDOW = 150;
const AUTHORITY_LAMPORTS = 1_000_000_000_000n; // 1000 SOL: rent and fees for every admin transaction
const MAX_SIGNATURE_STATUSES = 50_000;
/** Accounts owned by these are part of the runtime LiteSVM rebuilds on start; they are never saved. */
const RUNTIME_OWNERS = new Set([
  'Sysvar1111111111111111111111111111111111111',
  'NativeLoader1111111111111111111111111111111',
  'BPFLoaderUpgradeab1e11111111111111111111111',
  'BPFLoader2111111111111111111111111111111111',
  'BPFLoader1111111111111111111111111111111111',
]);

export interface AccountView {
  address: string;
  lamports: bigint;
  owner: string;
  executable: boolean;
  data: Uint8Array;
}

export interface ProcessedTransaction {
  signature: string;
  slot: number;
  /** null on success, else the mainnet-shaped TransactionError JSON. */
  err: unknown;
  logs: string[];
  unitsConsumed: bigint;
}

/** What one block changed: for subscriptions (signature, slot and account notifications). */
export interface BlockEvent {
  slot: number;
  signatures: { signature: string; err: unknown }[];
  accounts: string[];
}

export class TransactionRejected extends Error {
  constructor(
    readonly kind: 'decode' | 'signature' | 'failed',
    message: string,
    readonly result?: ProcessedTransaction,
  ) {
    super(message);
    this.name = 'TransactionRejected';
  }
}

export interface InitOptions {
  decimals?: number;
  token2022?: boolean;
}

const b58 = getBase58Decoder();
const b64dec = getBase64Decoder();
const b64enc = getBase64Encoder();
const txDecoder = getTransactionDecoder();
const txEncoder = getTransactionEncoder();
const messageDecoder = getCompiledTransactionMessageDecoder();
const messageEncoder = getCompiledTransactionMessageEncoder();
/** Solana's PACKET_DATA_SIZE: the largest wire transaction a validator accepts. */
export const MAX_TRANSACTION_BYTES = 1232;

const sameBytes = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);

export class LocalChain {
  private svm: LiteSVM;
  private slotNumber: number;
  private readonly recentBlockhashes = new Map<string, number>(); // hash -> slot it was produced in
  private currentBlockhash = '';
  private readonly statuses = new Map<string, { slot: number; err: unknown }>();
  /** token-account owner -> token account addresses */
  private readonly ownerIndex = new Map<string, Set<string>>();
  private readonly indexedOwnerOf = new Map<string, string>();
  private readonly written = new Set<string>();
  private readonly listeners = new Set<(e: BlockEvent) => void>();

  private constructor(
    readonly stateDir: string,
    readonly mint: string,
    readonly decimals: number,
    readonly tokenProgram: string,
    readonly authority: KeyPairSigner,
    slot: number,
  ) {
    this.svm = new LiteSVM().withBlockhashCheck(false);
    this.slotNumber = slot;
    this.newBlock();
  }

  /** Opens the chain in stateDir, creating the mint (and authority) the first time. Idempotent. */
  static async open(stateDir: string, opts: InitOptions = {}): Promise<LocalChain> {
    ensureDir(stateDir);
    const files = stateFiles(stateDir);
    const saved = readState(stateDir);
    if (saved) {
      const wanted = opts.token2022 === undefined ? saved.tokenProgram : opts.token2022 ? TOKEN_2022_PROGRAM : TOKEN_PROGRAM;
      if (wanted !== saved.tokenProgram || (opts.decimals !== undefined && opts.decimals !== saved.decimals)) {
        throw new Error(`${stateDir} already holds mint ${saved.mint} (program ${saved.tokenProgram}, ${saved.decimals} decimals); use another state dir`);
      }
      const authority = await createKeyPairSignerFromBytes(readKeypairFile(files.authority));
      const chain = new LocalChain(stateDir, saved.mint, saved.decimals, saved.tokenProgram, authority, saved.slot);
      chain.restore(saved.accounts);
      return chain;
    }
    const decimals = opts.decimals ?? 6;
    if (!Number.isInteger(decimals) || decimals < 0 || decimals > 9) throw new Error('decimals must be an integer from 0 to 9');
    const seed = randomBytes(32);
    const authority = await createKeyPairSignerFromPrivateKeyBytes(seed);
    writeKeypairFile(files.authority, Uint8Array.from([...seed, ...getAddressEncoder().encode(authority.address)]));
    seed.fill(0);
    const mintSigner = await generateKeyPairSigner();
    const tokenProgram = opts.token2022 ? TOKEN_2022_PROGRAM : TOKEN_PROGRAM;
    const chain = new LocalChain(stateDir, mintSigner.address, decimals, tokenProgram, authority, 1);
    chain.svm.airdrop(authority.address, lamports(AUTHORITY_LAMPORTS));
    chain.written.add(authority.address);
    const ixs = createMintInstructions({ payer: authority, mint: mintSigner, authority: authority.address, decimals, tokenProgram, rentLamports: chain.rentExempt(MINT_SIZE) });
    chain.submit(await signAndEncode(authority, chain.lifetime(), ixs));
    return chain;
  }

  // ---- blocks and blockhashes -------------------------------------------------------------------

  get slot(): number {
    return this.slotNumber;
  }

  private newBlock(): void {
    this.slotNumber += 1;
    this.currentBlockhash = b58.decode(randomBytes(32));
    this.recentBlockhashes.set(this.currentBlockhash, this.slotNumber);
    for (const [hash, slot] of this.recentBlockhashes) {
      if (slot > this.slotNumber - BLOCKHASH_WINDOW) break;
      this.recentBlockhashes.delete(hash);
    }
  }

  /** Subscribes to committed blocks; returns the unsubscribe function. */
  onBlock(listener: (e: BlockEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: BlockEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a subscriber's failure must not undo or block a committed transaction
      }
    }
  }

  lifetime(): Lifetime {
    return { blockhash: this.currentBlockhash, lastValidBlockHeight: BigInt(this.slotNumber + BLOCKHASH_WINDOW) };
  }

  isBlockhashValid(hash: string): boolean {
    return this.recentBlockhashes.has(hash);
  }

  // ---- accounts ---------------------------------------------------------------------------------

  getAccount(addr: string): AccountView | null {
    const acct = this.svm.getAccount(address(addr));
    if (!acct.exists) return null;
    return { address: addr, lamports: acct.lamports, owner: acct.programAddress, executable: acct.executable, data: new Uint8Array(acct.data) };
  }

  rentExempt(dataLen: number): bigint {
    return this.svm.minimumBalanceForRentExemption(BigInt(dataLen));
  }

  getMintState(addr: string): { mint: MintState; program: string } | null {
    const acct = this.getAccount(addr);
    if (!acct || !isTokenProgram(acct.owner)) return null;
    const mint = decodeMint(acct.data);
    return mint ? { mint, program: acct.owner } : null;
  }

  /** Token accounts of `owner` under `program`, optionally for one mint, from the owner index. */
  tokenAccountsOf(owner: string, program: string, mint?: string): AccountView[] {
    const out: AccountView[] = [];
    for (const addr of this.ownerIndex.get(owner) ?? []) {
      const acct = this.getAccount(addr);
      if (!acct || acct.owner !== program) continue;
      const state = decodeTokenAccount(acct.data);
      if (state && (!mint || state.mint === mint)) out.push(acct);
    }
    return out;
  }

  private reindex(addr: string): void {
    const acct = this.getAccount(addr);
    const state = acct && isTokenProgram(acct.owner) ? decodeTokenAccount(acct.data) : null;
    const previous = this.indexedOwnerOf.get(addr);
    if (previous && previous !== state?.owner) {
      this.ownerIndex.get(previous)?.delete(addr);
      this.indexedOwnerOf.delete(addr);
    }
    if (state) {
      let set = this.ownerIndex.get(state.owner);
      if (!set) this.ownerIndex.set(state.owner, (set = new Set()));
      set.add(addr);
      this.indexedOwnerOf.set(addr, state.owner);
    }
  }

  // ---- transactions -----------------------------------------------------------------------------

  /**
   * Decodes wire bytes; throws TransactionRejected('decode') on anything that is not one canonical
   * legacy or v0 transaction. This is a safety boundary, not a nicety: LiteSVM's native binding panics
   * (and a Rust panic there aborts the whole process) on some malformed bytes, so only transactions that
   * decode and re-encode to exactly the same bytes, with one signature per required signer, reach it.
   */
  static decode(bytes: Uint8Array): { tx: Transaction; blockhash: string; accounts: string[] } {
    if (bytes.length > MAX_TRANSACTION_BYTES) {
      throw new TransactionRejected('decode', `transaction too large: ${bytes.length} bytes (max: ${MAX_TRANSACTION_BYTES})`);
    }
    try {
      const tx = txDecoder.decode(bytes);
      const message = messageDecoder.decode(tx.messageBytes);
      if (message.version !== 'legacy' && message.version !== 0) throw new Error(`unsupported transaction version ${String(message.version)}`);
      if (message.header.numSignerAccounts < 1 || Object.keys(tx.signatures).length !== message.header.numSignerAccounts) throw new Error('signature count does not match the message header');
      if (message.header.numSignerAccounts > message.staticAccounts.length) throw new Error('more signers than accounts');
      if (!sameBytes(messageEncoder.encode(message), tx.messageBytes)) throw new Error('message is not canonically encoded');
      if (!sameBytes(txEncoder.encode(tx), bytes)) throw new Error('transaction is not canonically encoded');
      // The local chain has no address lookup tables, so every index must point into the static keys.
      if (((message as { addressTableLookups?: unknown[] }).addressTableLookups ?? []).length > 0) throw new Error('address lookup tables are not supported by the local chain');
      const n = message.staticAccounts.length;
      for (const ix of message.instructions ?? []) {
        if (ix.programAddressIndex >= n || (ix.accountIndices ?? []).some((i) => i >= n)) throw new Error('instruction account index out of range');
      }
      return { tx, blockhash: message.lifetimeToken, accounts: message.staticAccounts.map(String) };
    } catch (e) {
      if (e instanceof TransactionRejected) throw e;
      throw new TransactionRejected('decode', `failed to deserialize VersionedTransaction: ${(e as Error).message}`);
    }
  }

  /**
   * Processes a transaction as the leader would: checks the blockhash age, executes it (signatures
   * verified by LiteSVM), records its status, re-indexes and persists the accounts it named. A failed
   * transaction changes no token state (LiteSVM rolls it back, at most charging the fee) and stays in
   * LiteSVM's history, so resending the identical bytes is refused as AlreadyProcessed.
   */
  submit(bytes: Uint8Array): ProcessedTransaction {
    const { tx, blockhash, accounts } = LocalChain.decode(bytes);
    const signature = firstSignature(tx);
    if (!this.isBlockhashValid(blockhash)) {
      const result = { signature, slot: this.slotNumber, err: 'BlockhashNotFound', logs: [], unitsConsumed: 0n };
      throw new TransactionRejected('failed', 'Transaction simulation failed: Blockhash not found', result);
    }
    let outcome: TransactionMetadata | FailedTransactionMetadata;
    try {
      outcome = this.svm.sendTransaction(tx);
    } catch (e) {
      throw new TransactionRejected('signature', 'Transaction signature verification failure');
    }
    if (outcome instanceof FailedTransactionMetadata) {
      const err = transactionErrorJson(outcome.err());
      if (err === 'SignatureFailure' || err === 'MissingSignatureForFee') throw new TransactionRejected('signature', 'Transaction signature verification failure');
      const meta = outcome.meta();
      const result = { signature, slot: this.slotNumber, err, logs: meta.logs(), unitsConsumed: meta.computeUnitsConsumed() };
      // LiteSVM may have charged the fee payer; keep the saved state equal to the live one.
      this.written.add(accounts[0]);
      this.persist();
      throw new TransactionRejected('failed', `Transaction simulation failed: ${describeError(err)}`, result);
    }
    const result: ProcessedTransaction = { signature, slot: this.slotNumber, err: null, logs: outcome.logs(), unitsConsumed: outcome.computeUnitsConsumed() };
    this.recordStatus(signature, null);
    for (const a of accounts) {
      this.written.add(a);
      this.reindex(a);
    }
    const slot = this.slotNumber;
    this.newBlock();
    this.persist();
    this.emit({ slot, signatures: [{ signature, err: null }], accounts });
    return result;
  }

  /** Executes without committing. */
  simulate(bytes: Uint8Array, opts: { sigVerify: boolean; replaceRecentBlockhash: boolean }): ProcessedTransaction & { postAccounts: Map<string, AccountView> } {
    const { tx, blockhash } = LocalChain.decode(bytes);
    const signature = firstSignature(tx);
    if (!opts.replaceRecentBlockhash && !this.isBlockhashValid(blockhash)) {
      return { signature, slot: this.slotNumber, err: 'BlockhashNotFound', logs: [], unitsConsumed: 0n, postAccounts: new Map() };
    }
    this.svm.withSigverify(opts.sigVerify);
    try {
      const outcome = this.svm.simulateTransaction(tx);
      if (outcome instanceof FailedTransactionMetadata) {
        const meta = outcome.meta();
        return { signature, slot: this.slotNumber, err: transactionErrorJson(outcome.err()), logs: meta.logs(), unitsConsumed: meta.computeUnitsConsumed(), postAccounts: new Map() };
      }
      const meta = outcome.meta();
      const post = new Map<string, AccountView>();
      for (const a of outcome.postAccounts()) post.set(a.address, { address: a.address, lamports: a.lamports, owner: a.programAddress, executable: a.executable, data: new Uint8Array(a.data) });
      return { signature, slot: this.slotNumber, err: null, logs: meta.logs(), unitsConsumed: meta.computeUnitsConsumed(), postAccounts: post };
    } catch {
      return { signature, slot: this.slotNumber, err: 'SignatureFailure', logs: [], unitsConsumed: 0n, postAccounts: new Map() };
    } finally {
      this.svm.withSigverify(true);
    }
  }

  airdrop(to: string, amount: bigint): string {
    const outcome = this.svm.airdrop(address(to), lamports(amount));
    if (!outcome || outcome instanceof FailedTransactionMetadata) throw new Error(`airdrop failed: ${outcome ? describeError(transactionErrorJson(outcome.err())) : 'no result'}`);
    const signature = b58.decode(outcome.signature());
    this.recordStatus(signature, null);
    this.written.add(to);
    this.reindex(to);
    const slot = this.slotNumber;
    this.newBlock();
    this.persist();
    this.emit({ slot, signatures: [{ signature, err: null }], accounts: [to] });
    return signature;
  }

  signatureStatus(signature: string): { slot: number; err: unknown } | null {
    return this.statuses.get(signature) ?? null;
  }

  /** A transaction sent with skipPreflight that failed: its signature reports the error. */
  recordFailed(signature: string, err: unknown): void {
    this.recordStatus(signature, err);
    this.emit({ slot: this.slotNumber, signatures: [{ signature, err }], accounts: [] });
  }

  private recordStatus(signature: string, err: unknown): void {
    this.statuses.set(signature, { slot: this.slotNumber, err });
    if (this.statuses.size > MAX_SIGNATURE_STATUSES) this.statuses.delete(this.statuses.keys().next().value!);
  }

  // ---- admin operations (real transactions signed by the mint authority) ---------------------------

  /** Mints `raw` units into the owner's associated token account, creating it if needed. */
  async fund(owner: string, raw: bigint): Promise<{ signature: string; tokenAccount: string }> {
    assertAddress(owner);
    const { ata, instructions } = await fundInstructions({ authority: this.authority, owner, mint: this.mint, tokenProgram: this.tokenProgram, raw });
    const { signature } = this.submit(await signAndEncode(this.authority, this.lifetime(), instructions));
    return { signature, tokenAccount: ata };
  }

  /** A second, non-associated token account for the owner (proves balances are summed over accounts). */
  async createExtraTokenAccount(owner: string, raw: bigint): Promise<{ signature: string; tokenAccount: string }> {
    assertAddress(owner);
    const account = await generateKeyPairSigner();
    const ixs = extraTokenAccountInstructions({ authority: this.authority, account, owner, mint: this.mint, tokenProgram: this.tokenProgram, rentLamports: this.rentExempt(TOKEN_ACCOUNT_SIZE), raw });
    const { signature } = this.submit(await signAndEncode(this.authority, this.lifetime(), ixs));
    return { signature, tokenAccount: account.address };
  }

  /** transferChecked signed by the sender's keypair; the mint authority pays the fee and any new account's rent. */
  async transfer(fromKeypair: Uint8Array, to: string, raw: bigint): Promise<{ signature: string }> {
    assertAddress(to);
    const from = await createKeyPairSignerFromBytes(fromKeypair);
    const ixs = await transferInstructions({ feePayer: this.authority, from, to, mint: this.mint, tokenProgram: this.tokenProgram, decimals: this.decimals, raw });
    const { signature } = this.submit(await signAndEncode(this.authority, this.lifetime(), ixs));
    return { signature };
  }

  /** Sum of raw amounts over the owner's accounts for the chain's mint (what the gateway computes over RPC). */
  balanceOf(owner: string): bigint {
    return this.tokenAccountsOf(owner, this.tokenProgram, this.mint).reduce((sum, a) => sum + decodeTokenAccount(a.data)!.amount, 0n);
  }

  // ---- persistence --------------------------------------------------------------------------------

  private persist(): void {
    const accounts: SavedAccount[] = [];
    for (const addr of [...this.written]) {
      const acct = this.getAccount(addr);
      if (!acct) {
        this.written.delete(addr); // closed
        continue;
      }
      if (acct.executable || RUNTIME_OWNERS.has(acct.owner) || RUNTIME_OWNERS.has(addr)) continue;
      accounts.push({ address: addr, lamports: acct.lamports.toString(), owner: acct.owner, executable: false, data: b64dec.decode(acct.data) });
    }
    const state: ChainStateFile = { version: 1, mint: this.mint, decimals: this.decimals, tokenProgram: this.tokenProgram, authority: this.authority.address, slot: this.slotNumber, accounts };
    writeState(this.stateDir, state);
  }

  private restore(accounts: SavedAccount[]): void {
    for (const a of accounts) {
      this.svm.setAccount({
        address: address(a.address),
        lamports: lamports(BigInt(a.lamports)),
        programAddress: address(a.owner),
        executable: false,
        data: new Uint8Array(b64enc.encode(a.data)),
        space: 0n,
      });
      this.written.add(a.address);
      this.reindex(a.address);
    }
  }
}

function firstSignature(tx: Transaction): string {
  const sig = Object.values(tx.signatures)[0];
  return sig ? b58.decode(sig) : '1111111111111111111111111111111111111111111111111111111111111111';
}

function describeError(err: unknown): string {
  return typeof err === 'string' ? err : JSON.stringify(err);
}

export function assertAddress(value: string): void {
  try {
    address(value);
  } catch {
    throw new Error(`not a Solana address: ${JSON.stringify(value)}`);
  }
}
