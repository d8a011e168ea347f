import type { Observation, Resource } from '@medplum/fhirtypes';

/** A lab value: an Observation with a numeric value (the critical-value check reads these). */
export const isLabValue = (r: Resource | undefined): r is Observation =>
  r?.resourceType === 'Observation' && r.valueQuantity?.value !== undefined;

/** "Patient/id" of a resource's subject, when its subject is a Patient. */
export function patientOf(resource: Resource): string | undefined {
  const ref = (resource as { subject?: { reference?: string } }).subject?.reference;
  return ref?.startsWith('Patient/') ? ref : undefined;
}

/** Age in years at a time, from a birth date with at least year, month and day. */
export function ageAt(birthDate: string | undefined, at: string): number | undefined {
  if (!birthDate || !/^\d{4}-\d{2}-\d{2}/.test(birthDate)) return undefined;
  const b = new Date(birthDate.slice(0, 10));
  const t = new Date(at);
  return (t.getTime() - b.getTime()) / (365.2425 * 86_400_000);
}

/** Ids of the Observations a DiagnosticReport lists as its results. */
export const resultIds = (resource: Resource | undefined): string[] =>
  resource?.resourceType === 'DiagnosticReport'
    ? (resource.result ?? []).flatMap((r) => {
        const m = /^Observation\/([A-Za-z0-9.-]{1,64})$/.exec(r.reference ?? '');
        return m?.[1] ? [m[1]] : [];
      })
    : [];
