import type { FhirRequest } from '../types';

export function typeOf(req: FhirRequest): string {
  return req.params?.type ?? '';
}

export function idOf(req: FhirRequest): string {
  return req.params?.id ?? '';
}
