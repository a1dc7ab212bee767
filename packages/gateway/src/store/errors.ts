/** Errors the store adapters throw for caller mistakes (as opposed to backend failures, which pass through). */
export type StoreErrorCode = 'invalid' | 'conflict';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
