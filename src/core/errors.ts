/**
 * An error an operator can act on: a stable code for programs and tests, and a message
 * that says what happened and what to do next. Messages never carry key material, codes,
 * PINs or passkeys.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Readonly<Record<string, string | number | boolean>>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
