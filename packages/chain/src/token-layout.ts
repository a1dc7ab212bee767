/**
 * SPL Token / Token-2022 account layouts, decoded the way the real RPC's `jsonParsed` encoding shows them.
 * Base layouts are shared by both programs; Token-2022 appends an account-type byte at offset 165 and a
 * TLV list of extensions after it.
 */
import { getBase58Decoder } from '@solana/kit';

export const MINT_SIZE = 82;
export const TOKEN_ACCOUNT_SIZE = 165;
const ACCOUNT_TYPE_MINT = 1;
const ACCOUNT_TYPE_ACCOUNT = 2;

const b58 = getBase58Decoder();
const pubkeyAt = (data: Uint8Array, offset: number) => b58.decode(data.subarray(offset, offset + 32));
const view = (data: Uint8Array) => new DataView(data.buffer, data.byteOffset, data.byteLength);

function optionalPubkey(data: Uint8Array, offset: number): string | null {
  return view(data).getUint32(offset, true) === 1 ? pubkeyAt(data, offset + 4) : null;
}

export interface MintState {
  mintAuthority: string | null;
  supply: bigint;
  decimals: number;
  isInitialized: boolean;
  freezeAuthority: string | null;
}

export interface TokenAccountState {
  mint: string;
  owner: string;
  amount: bigint;
  delegate: string | null;
  state: 'uninitialized' | 'initialized' | 'frozen';
  isNative: boolean;
  nativeReserve: bigint | null;
  delegatedAmount: bigint;
  closeAuthority: string | null;
  extensions: string[];
}

/** Token-2022 accounts longer than the base layout carry their type at byte 165. */
function accountType(data: Uint8Array): number | null {
  return data.length > TOKEN_ACCOUNT_SIZE ? data[TOKEN_ACCOUNT_SIZE] : null;
}

export function decodeMint(data: Uint8Array): MintState | null {
  const type = accountType(data);
  if (data.length !== MINT_SIZE && type !== ACCOUNT_TYPE_MINT) return null;
  if (data.length < MINT_SIZE) return null;
  const isInitialized = data[45] === 1;
  if (!isInitialized) return null;
  return {
    mintAuthority: optionalPubkey(data, 0),
    supply: view(data).getBigUint64(36, true),
    decimals: data[44],
    isInitialized,
    freezeAuthority: optionalPubkey(data, 46),
  };
}

const EXTENSION_NAMES: Record<number, string> = {
  1: 'transferFeeConfig',
  2: 'transferFeeAmount',
  3: 'mintCloseAuthority',
  6: 'defaultAccountState',
  7: 'immutableOwner',
  8: 'memoTransfer',
  9: 'nonTransferable',
  11: 'cpiGuard',
  12: 'permanentDelegate',
  13: 'nonTransferableAccount',
};

function extensionNames(data: Uint8Array): string[] {
  const out: string[] = [];
  let offset = TOKEN_ACCOUNT_SIZE + 1;
  const dv = view(data);
  while (offset + 4 <= data.length) {
    const type = dv.getUint16(offset, true);
    const len = dv.getUint16(offset + 2, true);
    if (type === 0) break;
    out.push(EXTENSION_NAMES[type] ?? 'unparseableExtension');
    offset += 4 + len;
  }
  return out;
}

export function decodeTokenAccount(data: Uint8Array): TokenAccountState | null {
  if (data.length < TOKEN_ACCOUNT_SIZE) return null;
  if (data.length > TOKEN_ACCOUNT_SIZE && accountType(data) !== ACCOUNT_TYPE_ACCOUNT) return null;
  const dv = view(data);
  const stateByte = data[108];
  if (stateByte === 0 || stateByte > 2) return null;
  const isNative = dv.getUint32(109, true) === 1;
  return {
    mint: pubkeyAt(data, 0),
    owner: pubkeyAt(data, 32),
    amount: dv.getBigUint64(64, true),
    delegate: optionalPubkey(data, 72),
    state: stateByte === 2 ? 'frozen' : 'initialized',
    isNative,
    nativeReserve: isNative ? dv.getBigUint64(113, true) : null,
    delegatedAmount: dv.getBigUint64(121, true),
    closeAuthority: optionalPubkey(data, 129),
    extensions: data.length > TOKEN_ACCOUNT_SIZE ? extensionNames(data) : [],
  };
}

/** The RPC's UiTokenAmount: raw amount as a string, plus the float and trimmed decimal renderings. */
export function uiTokenAmount(amount: bigint, decimals: number) {
  return {
    amount: amount.toString(),
    decimals,
    uiAmount: Number(amount) / 10 ** decimals,
    uiAmountString: formatUnits(amount, decimals),
  };
}

/** `amount / 10^decimals` as a decimal string with trailing zeros trimmed ("1.5", "100"). */
export function formatUnits(amount: bigint, decimals: number): string {
  if (decimals === 0) return amount.toString();
  const s = amount.toString().padStart(decimals + 1, '0');
  const whole = s.slice(0, -decimals);
  const frac = s.slice(-decimals).replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole;
}

/** Parses "12", "1.5" into raw units; rejects more fractional digits than the mint has. */
export function parseUnits(text: string, decimals: number): bigint {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`not a non-negative decimal amount: ${JSON.stringify(text)}`);
  const frac = m[2] ?? '';
  if (frac.length > decimals) throw new Error(`amount ${text} has more than ${decimals} decimal places`);
  return BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, '0') || '0');
}

export function parsedMintInfo(m: MintState) {
  return {
    decimals: m.decimals,
    freezeAuthority: m.freezeAuthority,
    isInitialized: m.isInitialized,
    mintAuthority: m.mintAuthority,
    supply: m.supply.toString(),
  };
}

export function parsedTokenAccountInfo(a: TokenAccountState, decimals: number) {
  const info: Record<string, unknown> = {
    isNative: a.isNative,
    mint: a.mint,
    owner: a.owner,
    state: a.state,
    tokenAmount: uiTokenAmount(a.amount, decimals),
  };
  if (a.delegate) {
    info.delegate = a.delegate;
    info.delegatedAmount = uiTokenAmount(a.delegatedAmount, decimals);
  }
  if (a.closeAuthority) info.closeAuthority = a.closeAuthority;
  if (a.nativeReserve !== null) info.rentExemptReserve = uiTokenAmount(a.nativeReserve, decimals);
  if (a.extensions.length) info.extensions = a.extensions.map((extension) => ({ extension }));
  return info;
}
