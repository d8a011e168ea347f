// Minimal typings for the parts of untyped DICOM libraries this server uses.

declare module 'dcmjs' {
  export interface DcmjsElement {
    vr?: string;
    Value?: unknown[];
    _rawValue?: unknown;
    InlineBinary?: string;
    BulkDataURI?: string;
  }
  export type DcmjsDataset = Record<string, DcmjsElement>;
  export class DicomDict {
    constructor(meta: DcmjsDataset);
    meta: DcmjsDataset;
    dict: DcmjsDataset;
    write(options?: { fragmentMultiframe?: boolean; allowInvalidVRLength?: boolean }): ArrayBuffer;
  }
  type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
  interface Loglevel {
    setLevel(level: LogLevel): void;
    getLevel(): number;
    getLogger(name: string): Loglevel;
  }
  export const log: Loglevel;
  export const data: {
    DicomDict: typeof DicomDict;
    DicomMessage: {
      readFile(
        buffer: ArrayBuffer,
        options?: {
          ignoreErrors?: boolean;
          untilTag?: string | null;
          includeUntilTagValue?: boolean;
          noCopy?: boolean;
          forceStoreRaw?: boolean;
        },
      ): DicomDict;
    };
    DicomMetaDictionary: {
      dictionary: Record<string, { tag: string; vr: string; vm: string; name: string } | undefined>;
      nameMap: Record<string, { tag: string; vr: string; vm: string; name: string } | undefined>;
    };
  };
}

declare module 'dicom-parser' {
  export interface Fragment {
    offset: number;
    position: number;
    length: number;
  }
  export interface Element {
    tag: string;
    vr?: string;
    length: number;
    dataOffset: number;
    hadUndefinedLength?: boolean;
    items?: { dataSet?: DataSet; dataOffset: number; length: number }[];
    fragments?: Fragment[];
    basicOffsetTable?: number[];
  }
  export interface DataSet {
    byteArray: Uint8Array;
    elements: Record<string, Element | undefined>;
    string(tag: string): string | undefined;
    uint16(tag: string): number | undefined;
    intString(tag: string): number | undefined;
  }
  export function parseDicom(
    byteArray: Uint8Array,
    options?: { untilTag?: string; vrCallback?: (tag: string) => string | undefined },
  ): DataSet;
  export function readPart10Header(byteArray: Uint8Array): DataSet;
}
