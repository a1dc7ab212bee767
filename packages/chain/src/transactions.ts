/**
 * Builders for the token transactions the admin operations send: the same wire bytes whether they are
 * processed in-process by the local chain or sent over JSON-RPC by the CLI. Each returns a fully signed,
 * serialised transaction.
 */
import {
  address,
  appendTransactionMessageInstructions,
  createTransactionMessage,
  getTransactionEncoder,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type Address,
  type Blockhash,
  type Instruction,
  type TransactionSigner,
} from '@solana/kit';
import { getCreateAccountInstruction } from '@solana-program/system';
import {
  findAssociatedTokenPda,
  getCreateAssociatedTokenIdempotentInstruction,
  getInitializeAccount3Instruction,
  getInitializeMint2Instruction,
  getMintToInstruction,
  getTransferCheckedInstruction,
} from '@solana-program/token';
import { MINT_SIZE, TOKEN_ACCOUNT_SIZE } from './token-layout.ts';

export interface Lifetime {
  blockhash: string;
  lastValidBlockHeight: bigint;
}

export async function signAndEncode(feePayer: TransactionSigner, lifetime: Lifetime, instructions: Instruction[]): Promise<Uint8Array> {
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayerSigner(feePayer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: lifetime.blockhash as Blockhash, lastValidBlockHeight: lifetime.lastValidBlockHeight }, m),
    (m) => appendTransactionMessageInstructions(instructions, m),
  );
  const signed = await signTransactionMessageWithSigners(message);
  return new Uint8Array(getTransactionEncoder().encode(signed));
}

export async function associatedTokenAddress(owner: string, mint: string, tokenProgram: string): Promise<Address> {
  const [ata] = await findAssociatedTokenPda({ owner: address(owner), mint: address(mint), tokenProgram: address(tokenProgram) });
  return ata;
}

/** createAccount + initializeMint2 with the authority as mint authority and no freeze authority. */
export function createMintInstructions(p: { payer: TransactionSigner; mint: TransactionSigner; authority: string; decimals: number; tokenProgram: string; rentLamports: bigint }): Instruction[] {
  return [
    getCreateAccountInstruction({ payer: p.payer, newAccount: p.mint, lamports: p.rentLamports, space: MINT_SIZE, programAddress: address(p.tokenProgram) }),
    getInitializeMint2Instruction({ mint: p.mint.address, decimals: p.decimals, mintAuthority: address(p.authority) }, { programAddress: address(p.tokenProgram) }),
  ];
}

/** The owner's associated token account (created if missing, idempotently) and mintTo into it. */
export async function fundInstructions(p: { authority: TransactionSigner; owner: string; mint: string; tokenProgram: string; raw: bigint }): Promise<{ ata: Address; instructions: Instruction[] }> {
  const ata = await associatedTokenAddress(p.owner, p.mint, p.tokenProgram);
  const program = address(p.tokenProgram);
  return {
    ata,
    instructions: [
      getCreateAssociatedTokenIdempotentInstruction({ payer: p.authority, ata, owner: address(p.owner), mint: address(p.mint), tokenProgram: program }),
      getMintToInstruction({ mint: address(p.mint), token: ata, mintAuthority: p.authority, amount: p.raw }, { programAddress: program }),
    ],
  };
}

/** A plain (non-associated) token account for the owner at a fresh address, optionally funded. */
export function extraTokenAccountInstructions(p: { authority: TransactionSigner; account: TransactionSigner; owner: string; mint: string; tokenProgram: string; rentLamports: bigint; raw: bigint }): Instruction[] {
  const program = address(p.tokenProgram);
  const ixs: Instruction[] = [
    getCreateAccountInstruction({ payer: p.authority, newAccount: p.account, lamports: p.rentLamports, space: TOKEN_ACCOUNT_SIZE, programAddress: program }),
    getInitializeAccount3Instruction({ account: p.account.address, mint: address(p.mint), owner: address(p.owner) }, { programAddress: program }),
  ];
  if (p.raw > 0n) ixs.push(getMintToInstruction({ mint: address(p.mint), token: p.account.address, mintAuthority: p.authority, amount: p.raw }, { programAddress: program }));
  return ixs;
}

/** transferChecked from the sender's associated account to the recipient's (created if missing; the fee payer pays its rent). */
export async function transferInstructions(p: { feePayer: TransactionSigner; from: TransactionSigner; to: string; mint: string; tokenProgram: string; decimals: number; raw: bigint }): Promise<Instruction[]> {
  const program = address(p.tokenProgram);
  const source = await associatedTokenAddress(p.from.address, p.mint, p.tokenProgram);
  const destination = await associatedTokenAddress(p.to, p.mint, p.tokenProgram);
  return [
    getCreateAssociatedTokenIdempotentInstruction({ payer: p.feePayer, ata: destination, owner: address(p.to), mint: address(p.mint), tokenProgram: program }),
    getTransferCheckedInstruction({ source, mint: address(p.mint), destination, authority: p.from, amount: p.raw, decimals: p.decimals }, { programAddress: program }),
  ];
}
