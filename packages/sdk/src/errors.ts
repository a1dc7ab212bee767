/**
 * What the SDK throws. RomulusApiError carries the gateway's error envelope
 * ({success:false,error:{code,message,...details}}); RomulusNetworkError means the gateway was not reached.
 */
export class RomulusApiError extends Error {
  constructor(
    /** HTTP status (400, 401, 403, 404, 409, 413, 429, 503, ...). */
    readonly status: number,
    /** The gateway's stable error code, e.g. AGENT_EXISTS, INSUFFICIENT_BALANCE. */
    readonly code: string,
    message: string,
    /** Extra fields of the error object, e.g. { agent_id } on a 409. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RomulusApiError';
  }

  /** The id of the wallet's existing agent, when the gateway refused a spawn with 409. */
  get agentId(): string | undefined {
    const id = this.details.agent_id;
    return typeof id === 'string' ? id : undefined;
  }
}

export class RomulusNetworkError extends Error {
  constructor(
    readonly url: string,
    readonly cause: unknown,
  ) {
    super(`cannot reach ${url}: ${cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause)}`);
    this.name = 'RomulusNetworkError';
  }
}

/** Thrown by waitForStatus when the agent settles in another terminal state or time runs out. */
export class RomulusWaitError extends Error {
  constructor(
    message: string,
    readonly lastStatus: string | undefined,
    readonly reason: string | undefined,
  ) {
    super(message);
    this.name = 'RomulusWaitError';
  }
}
