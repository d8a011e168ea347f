import { FhirError } from '../shared';

/** The single description of every rejected token: nothing about which check failed or whose it was. */
export const INVALID_TOKEN_DESCRIPTION = 'The access token is invalid, expired or revoked';

/** RFC 6750 §3 challenge: without `error` for a request that sent no token. */
export function bearerChallenge(realm: string, invalid: boolean): string {
  const base = `Bearer realm="${realm}"`;
  return invalid ? `${base}, error="invalid_token", error_description="${INVALID_TOKEN_DESCRIPTION}"` : base;
}

/**
 * A 401: no token, or one that is not (or no longer) valid. The error funnel answers it with
 * `challenge` as WWW-Authenticate and the usual body (OperationOutcome, or plain text for DICOMweb).
 */
export class UnauthorizedError extends FhirError {
  readonly challenge: string;

  constructor(realm: string, invalid: boolean) {
    super(401, {
      code: 'login',
      message: invalid
        ? INVALID_TOKEN_DESCRIPTION
        : 'This request needs an access token (Authorization: Bearer)',
    });
    this.challenge = bearerChallenge(realm, invalid);
  }
}

/** A token that verified but does not carry what the request needs (RFC 6750 insufficient_scope). */
export function forbidden(message: string): FhirError {
  return new FhirError(403, { code: 'forbidden', message });
}
