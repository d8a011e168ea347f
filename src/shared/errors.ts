import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * The one error→status table. Every layer throws a FhirError with an issue code;
 * the HTTP error funnel and batch processing both map it through here, so a client
 * sees the same status for the same failure whichever path it took.
 */
export const ERROR_STATUS = {
  invalid: 400,
  structure: 400,
  required: 400,
  value: 400,
  invariant: 400,
  'code-invalid': 400,
  security: 403,
  forbidden: 403,
  'not-found': 404,
  deleted: 410,
  'not-supported': 405,
  conflict: 409,
  duplicate: 409,
  'too-costly': 413,
  processing: 422,
  'business-rule': 422,
  exception: 500,
  transient: 503,
  timeout: 503,
} as const satisfies Record<string, number>;

export type IssueCode = keyof typeof ERROR_STATUS;

export interface IssueInput {
  code: IssueCode | OperationOutcomeIssue['code'];
  message: string;
  expression?: string | string[];
  severity?: OperationOutcomeIssue['severity'];
}

export class FhirError extends Error {
  readonly status: number;
  readonly outcome: OperationOutcome;

  constructor(status: number, issues: IssueInput | IssueInput[] | OperationOutcome) {
    const outcome = isOutcome(issues) ? issues : buildOutcome(Array.isArray(issues) ? issues : [issues]);
    super(outcome.issue?.[0]?.diagnostics ?? outcome.issue?.[0]?.details?.text ?? 'FHIR error');
    this.status = status;
    this.outcome = outcome;
  }

  static of(code: IssueCode, message: string, expression?: string | string[]): FhirError {
    return new FhirError(ERROR_STATUS[code], { code, message, expression });
  }
}

function isOutcome(x: unknown): x is OperationOutcome {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as { resourceType?: unknown }).resourceType === 'OperationOutcome'
  );
}

export function buildOutcome(issues: IssueInput[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: i.severity ?? 'error',
      code: i.code,
      details: { text: i.message },
      diagnostics: i.message,
      ...(i.expression ? { expression: Array.isArray(i.expression) ? i.expression : [i.expression] } : {}),
    })),
  };
}

export function informational(message: string): OperationOutcome {
  return buildOutcome([{ code: 'informational', severity: 'information', message }]);
}

export const badRequest = (message: string, expression?: string | string[]): FhirError =>
  FhirError.of('invalid', message, expression);
export const notFound = (message: string): FhirError => FhirError.of('not-found', message);
export const gone = (message: string): FhirError => FhirError.of('deleted', message);
export const conflict = (message: string, expression?: string | string[]): FhirError =>
  FhirError.of('conflict', message, expression);
export const preconditionFailed = (message: string): FhirError =>
  new FhirError(412, { code: 'conflict', message });
export const methodNotAllowed = (message: string): FhirError => FhirError.of('not-supported', message);
export const notAcceptable = (message: string): FhirError =>
  new FhirError(406, { code: 'not-supported', message });
export const unsupportedMediaType = (message: string): FhirError =>
  new FhirError(415, { code: 'not-supported', message });
export const payloadTooLarge = (message: string): FhirError => FhirError.of('too-costly', message);
export const unprocessable = (message: string, expression?: string | string[]): FhirError =>
  FhirError.of('processing', message, expression);

/** Maps anything thrown to a FhirError; unknown errors become a 500 that reveals nothing. */
export function toFhirError(err: unknown): FhirError {
  if (err instanceof FhirError) return err;
  return new FhirError(500, { code: 'exception', message: 'Internal server error' });
}
