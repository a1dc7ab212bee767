import { createHash, timingSafeEqual } from 'node:crypto';

/** Constant-time bearer check: both sides hashed first so lengths never leak through timing. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^Bearer ([^\s]+)$/i.exec(header.trim());
  if (!m) return false;
  const a = createHash('sha256').update(m[1]).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}
