/**
 * Errors that cross a module boundary carry a stable code, so callers (the CLI's exit
 * codes, the API's status codes, tests) branch on the code and never on message text.
 */
export type ErrorCode =
  | 'E_CONFIG'
  | 'E_DATA_DIR'
  | 'E_DATA_DIR_LOCKED'
  | 'E_DB_NOT_SQLITE'
  | 'E_DB_SCHEMA_NEWER'
  | 'E_DB_OPEN'
  | 'E_DB_CORRUPT'
  | 'E_BAD_REF'
  | 'E_NOT_FOUND'
  | 'E_AMBIGUOUS_REF'
  | 'E_NIC_CONFLICT'
  | 'E_IPXE'
  | 'E_GRUB'
  | 'E_CONFLICT'
  | 'E_BMC'
  | 'E_LEASE_LOST'
  | 'E_TOO_MANY'
  | 'E_STORAGE'
  | 'E_AGENT_BUILD'
  | 'E_DEPLOY';

export class MetalboxError extends Error {
  override readonly name = 'MetalboxError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isMetalboxError(error: unknown, code?: ErrorCode): error is MetalboxError {
  return error instanceof MetalboxError && (code === undefined || error.code === code);
}
