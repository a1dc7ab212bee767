/**
 * The byte strings a wallet may have signed for the text `romulus:<ts>`. Browser wallets sign the raw UTF-8
 * bytes; `solana sign-offchain-message` and Ledger sign an off-chain message envelope. We rebuild each
 * candidate from the text and the signer, then verify against each (raw first: it is the common case).
 *
 *   CLI form (20-byte header):  "\xffsolana offchain" | 0x00 | format | u16le length | message
 *   spec v0:                    "\xffsolana offchain" | 0x00 | 32-byte app domain | format | signer count
 *                               | signers (32 bytes each) | u16le length | message
 *   spec v1:                    "\xffsolana offchain" | 0x01 | signer count | sorted signers | message
 */
const SIGNING_DOMAIN = Buffer.concat([Buffer.from([0xff]), Buffer.from('solana offchain', 'ascii')]);

/** Format byte: 0 = restricted ASCII, 1 = limited UTF-8, 2 = extended UTF-8. */
function formatOf(message: Buffer): number {
  for (const b of message) if (b < 0x20 || b > 0x7e) return 1;
  return 0;
}

function u16le(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

export function cliEnvelope(message: Buffer): Buffer {
  return Buffer.concat([SIGNING_DOMAIN, Buffer.from([0, formatOf(message)]), u16le(message.length), message]);
}

export function v0Envelope(message: Buffer, signer: Uint8Array, applicationDomain: Uint8Array = new Uint8Array(32)): Buffer {
  return Buffer.concat([
    SIGNING_DOMAIN,
    Buffer.from([0]),
    Buffer.from(applicationDomain),
    Buffer.from([formatOf(message), 1]),
    Buffer.from(signer),
    u16le(message.length),
    message,
  ]);
}

export function v1Envelope(message: Buffer, signer: Uint8Array): Buffer {
  return Buffer.concat([SIGNING_DOMAIN, Buffer.from([1, 1]), Buffer.from(signer), message]);
}

/**
 * Every byte string accepted as a signature over `text` by `signer`, in the order they are tried. The v0
 * envelope is tried with the all-zero application domain only: a domain is app-specific and Romulus does
 * not define one, so a signature bound to another app's domain must not be accepted here.
 */
export function candidateMessages(text: string, signer: Uint8Array): Buffer[] {
  const message = Buffer.from(text, 'utf8');
  return [message, cliEnvelope(message), v0Envelope(message, signer), v1Envelope(message, signer)];
}
