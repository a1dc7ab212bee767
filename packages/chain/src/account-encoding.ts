/** Account JSON in the RPC's encodings: legacy binary (bare base58), base58, base64 and jsonParsed. */
import { getBase58Decoder, getBase64Decoder } from '@solana/kit';
import type { AccountView, LocalChain } from './local-chain.ts';
import { isTokenProgram, parsedProgramLabel } from './programs.ts';
import { invalidParams } from './rpc-errors.ts';
import { decodeMint, decodeTokenAccount, parsedMintInfo, parsedTokenAccountInfo } from './token-layout.ts';

/** Every account here is rent-exempt; mainnet reports those with rentEpoch u64::MAX. */
const RENT_EPOCH_EXEMPT = 18446744073709551615n;
const BASE58_MAX_BYTES = 128;
const b58 = getBase58Decoder();
const b64 = getBase64Decoder();

export type AccountEncoding = 'binary' | 'base58' | 'base64' | 'jsonParsed';
export interface DataSlice {
  offset: number;
  length: number;
}

export function parseEncoding(value: unknown, fallback: AccountEncoding): AccountEncoding {
  if (value === undefined || value === null) return fallback;
  if (value === 'binary' || value === 'base58' || value === 'base64' || value === 'jsonParsed') return value;
  if (value === 'base64+zstd') throw invalidParams('Invalid params: base64+zstd encoding is not supported by the local chain');
  throw invalidParams(`Invalid params: unknown variant \`${String(value)}\`, expected one of \`binary\`, \`base58\`, \`base64\`, \`jsonParsed\`, \`base64+zstd\``);
}

export function parseDataSlice(value: unknown): DataSlice | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v !== 'object' || !Number.isInteger(v.offset) || !Number.isInteger(v.length) || (v.offset as number) < 0 || (v.length as number) < 0) {
    throw invalidParams('Invalid params: dataSlice must be {offset, length} with non-negative integers');
  }
  return { offset: v.offset as number, length: v.length as number };
}

function jsonParsedData(chain: LocalChain, acct: AccountView): unknown | null {
  if (!isTokenProgram(acct.owner)) return null;
  const program = parsedProgramLabel(acct.owner);
  const space = acct.data.length;
  const mint = decodeMint(acct.data);
  if (mint) return { parsed: { info: parsedMintInfo(mint), type: 'mint' }, program, space };
  const token = decodeTokenAccount(acct.data);
  if (!token) return null;
  // Like the real RPC, a token account's amounts need its mint's decimals; without the mint, fall back.
  const decimals = chain.getMintState(token.mint)?.mint.decimals;
  if (decimals === undefined) return null;
  return { parsed: { info: parsedTokenAccountInfo(token, decimals), type: 'account' }, program, space };
}

export function encodeAccount(chain: LocalChain, acct: AccountView, encoding: AccountEncoding, slice?: DataSlice): Record<string, unknown> {
  let data: unknown = null;
  if (encoding === 'jsonParsed' && !slice) data = jsonParsedData(chain, acct);
  if (data === null) {
    const bytes = slice ? acct.data.subarray(slice.offset, slice.offset + slice.length) : acct.data;
    if (encoding === 'binary' || encoding === 'base58') {
      if (bytes.length > BASE58_MAX_BYTES) {
        throw invalidParams(`Encoded binary (base 58) data should be less than ${BASE58_MAX_BYTES} bytes, please use Base64 encoding.`);
      }
      data = encoding === 'binary' ? b58.decode(bytes) : [b58.decode(bytes), 'base58'];
    } else {
      data = [b64.decode(bytes), 'base64'];
    }
  }
  return {
    data,
    executable: acct.executable,
    lamports: acct.lamports,
    owner: acct.owner,
    rentEpoch: RENT_EPOCH_EXEMPT,
    space: acct.data.length,
  };
}
