/** Errors the store adapters throw for caller mistakes. */
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

/**
 * The backend cannot serve the call right now (Redis unreachable or still loading, the cluster down, SQLite
 * locked past its busy timeout or its disk failing). Every adapter turns such failures into this one type at
 * its boundary, so callers (the HTTP app answers 503 STORE_UNAVAILABLE) never inspect driver errors.
 * `backendCode` is the driver's own code, for the log.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(
    message: string,
    readonly backendCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
