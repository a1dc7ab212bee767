import type { FastifyRequest } from 'fastify';
import { ApiError } from '@romulus/shared';
import type { GatewayMetrics } from '../metrics.ts';
import type { TokenBuckets } from '../rate-limit.ts';
import { AuthError, SignatureVerifier, type VerifiedWallet } from './verifier.ts';

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Signed-request checks for route handlers: the signature, then the per-wallet rate limit. */
export class RequestAuth {
  constructor(
    private readonly verifier: SignatureVerifier,
    private readonly perWallet: TokenBuckets,
    private readonly metrics: GatewayMetrics,
  ) {}

  hasSignature(req: FastifyRequest): boolean {
    return header(req, 'x-wallet') !== undefined || header(req, 'x-signature') !== undefined || header(req, 'x-timestamp') !== undefined;
  }

  async require(req: FastifyRequest): Promise<VerifiedWallet> {
    let v: VerifiedWallet;
    try {
      v = await this.verifier.verify({
        wallet: header(req, 'x-wallet'),
        signature: header(req, 'x-signature'),
        timestamp: header(req, 'x-timestamp'),
      });
    } catch (err) {
      if (err instanceof AuthError) this.metrics.authFailures.inc({ code: err.code });
      throw err;
    }
    if (!this.perWallet.take(v.wallet)) {
      throw new ApiError(429, 'RATE_LIMITED', `too many requests for this wallet; retry in ${this.perWallet.retryAfterSec(v.wallet)} s`);
    }
    return v;
  }

  /** The signer if the request is signed (and then it must verify), else null. */
  async optional(req: FastifyRequest): Promise<VerifiedWallet | null> {
    return this.hasSignature(req) ? this.require(req) : null;
  }
}
