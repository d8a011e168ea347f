/** Transfer syntaxes this server stores, with the media type of their frames (PS3.18 table 8.7.3-2). */
const SYNTAXES: Record<string, { encapsulated: boolean; frameType: string }> = {
  '1.2.840.10008.1.2': { encapsulated: false, frameType: 'application/octet-stream' },
  '1.2.840.10008.1.2.1': { encapsulated: false, frameType: 'application/octet-stream' },
  '1.2.840.10008.1.2.1.99': { encapsulated: false, frameType: 'application/octet-stream' },
  '1.2.840.10008.1.2.2': { encapsulated: false, frameType: 'application/octet-stream' },
  '1.2.840.10008.1.2.4.50': { encapsulated: true, frameType: 'image/jpeg' },
  '1.2.840.10008.1.2.4.51': { encapsulated: true, frameType: 'image/jpeg' },
  '1.2.840.10008.1.2.4.57': { encapsulated: true, frameType: 'image/jpeg' },
  '1.2.840.10008.1.2.4.70': { encapsulated: true, frameType: 'image/jpeg' },
  '1.2.840.10008.1.2.4.80': { encapsulated: true, frameType: 'image/jls' },
  '1.2.840.10008.1.2.4.81': { encapsulated: true, frameType: 'image/jls' },
  '1.2.840.10008.1.2.4.90': { encapsulated: true, frameType: 'image/jp2' },
  '1.2.840.10008.1.2.4.91': { encapsulated: true, frameType: 'image/jp2' },
  '1.2.840.10008.1.2.4.92': { encapsulated: true, frameType: 'image/jpx' },
  '1.2.840.10008.1.2.4.93': { encapsulated: true, frameType: 'image/jpx' },
  '1.2.840.10008.1.2.4.100': { encapsulated: true, frameType: 'video/mpeg2' },
  '1.2.840.10008.1.2.4.101': { encapsulated: true, frameType: 'video/mpeg2' },
  '1.2.840.10008.1.2.4.102': { encapsulated: true, frameType: 'video/mp4' },
  '1.2.840.10008.1.2.4.103': { encapsulated: true, frameType: 'video/mp4' },
  '1.2.840.10008.1.2.4.201': { encapsulated: true, frameType: 'image/jphc' },
  '1.2.840.10008.1.2.4.202': { encapsulated: true, frameType: 'image/jphc' },
  '1.2.840.10008.1.2.4.203': { encapsulated: true, frameType: 'image/jphc' },
  '1.2.840.10008.1.2.5': { encapsulated: true, frameType: 'image/dicom-rle' },
};

export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';

export function isKnownTransferSyntax(uid: string): boolean {
  return uid in SYNTAXES;
}

export function isEncapsulated(uid: string): boolean {
  return SYNTAXES[uid]?.encapsulated ?? true;
}

export function frameMediaType(uid: string): string {
  return SYNTAXES[uid]?.frameType ?? 'application/octet-stream';
}
