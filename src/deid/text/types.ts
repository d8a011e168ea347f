/** HIPAA Safe Harbor identifier kinds this engine finds (45 CFR 164.514(b)(2)), as i2b2 names them. */
export const PHI_TYPES = [
  'NAME',
  'DATE',
  'AGE',
  'PHONE',
  'FAX',
  'EMAIL',
  'URL',
  'IP',
  'SSN',
  'MRN',
  'ACCOUNT',
  'LICENSE',
  'ID',
  'ADDRESS',
  'ZIP',
  'LOCATION',
  'ORGANIZATION',
] as const;
export type PhiType = (typeof PHI_TYPES)[number];

/** A span of the input that holds PHI. Offsets are UTF-16 code units, end exclusive. */
export interface Finding {
  type: PhiType;
  start: number;
  end: number;
  /** Which detector found it (for tuning and the change log; never the value). */
  source: string;
}

/**
 * One way of finding PHI. Rules, dictionaries and NLP packages implement it today; a hospital
 * can add an ONNX NER model behind the same interface.
 */
export interface Detector {
  readonly name: string;
  /**
   * A learnt model's findings only add to what rules find: where a rule found a span, its type
   * stands (a model trained on few templates labels ordinary text worse than the rules do).
   */
  readonly learnt?: boolean;
  /** Rules answer at once; a model (ONNX) answers when its inference is done. */
  detect(text: string): Finding[] | Promise<Finding[]>;
}
