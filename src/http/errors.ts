import type { Middleware } from 'koa';
import { bearerChallenge, UnauthorizedError } from '../auth';
import type { Logger } from '../shared';
import { FhirError, toFhirError } from '../shared';
import { DICOMWEB_PREFIX } from './dicomweb-adapter';

/**
 * The one error funnel, mounted first: every failure becomes an OperationOutcome with the
 * status from the shared error table. Unexpected errors are logged without their message
 * (which may quote data) and answered with a generic 500.
 */
export function errorFunnel(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = toFhirError(err);
      if (!(err instanceof FhirError)) {
        const stack = (err as Error | undefined)?.stack?.split('\n').slice(1, 8).join('\n');
        logger.error(
          {
            requestId: ctx.state.requestId as string,
            errName: (err as Error | undefined)?.name,
            errCode: (err as { code?: string } | undefined)?.code,
            stack,
          },
          'unhandled error',
        );
      }
      ctx.status = e.status;
      if (e.status === 401) {
        // RFC 6750: every 401 names the scheme; a token the access layer refused is invalid_token.
        const realm = (ctx.state.realm as string | undefined) ?? 'fhir-dicomweb-server';
        ctx.set(
          'WWW-Authenticate',
          err instanceof UnauthorizedError ? err.challenge : bearerChallenge(realm, true),
        );
      }
      if (ctx.path.startsWith(DICOMWEB_PREFIX)) {
        // DICOMweb clients expect a plain description of the error, not a FHIR resource.
        ctx.type = 'text/plain';
        ctx.body = e.message;
      } else {
        ctx.type = 'application/fhir+json';
        ctx.body = e.outcome;
      }
    }
  };
}
