import { createHmac } from 'node:crypto';

/** A de-identification key: the id goes into outputs (which generation made them), never the secret. */
export interface DeidKey {
  id: string;
  secret: string;
}

/**
 * Keyed pseudonyms (HMAC-SHA256): the same input gives the same token under one key, in DICOM,
 * FHIR and text alike, and nobody without the key can go back or guess. Rotating the key
 * (DEID_KEY_ID, DEID_KEY) starts a new, unlinkable generation of tokens.
 */
export class Pseudonymizer {
  constructor(readonly key: DeidKey) {
    if (key.secret.length < 16) throw new Error('DEID_KEY must be at least 16 characters');
  }

  private mac(kind: string, value: string): Buffer {
    return createHmac('sha256', this.key.secret).update(`${kind}\u0000${value}`).digest();
  }

  /** A short, stable token for an identifier, e.g. a PatientID or an MRN. */
  token(kind: string, value: string): string {
    return this.mac(kind, value).toString('base64url').slice(0, 16).toUpperCase().replace(/[-_]/g, 'X');
  }

  /** A replacement UID under the 2.25 root (a UUID-derived UID, PS3.5 B.2), the same for the same UID. */
  uid(value: string): string {
    const hex = this.mac('uid', value).subarray(0, 16).toString('hex');
    return `2.25.${BigInt(`0x${hex}`).toString()}`;
  }

  /** Days to move a patient's dates by: the same for every date of the patient, so intervals stay. */
  dateShiftDays(patientKey: string): number {
    const n = this.mac('date-shift', patientKey).readUInt32BE(0) % 730;
    return n < 365 ? n - 365 : n - 364; // -365..-1 or 1..365, never 0
  }
}
