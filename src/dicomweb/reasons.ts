/**
 * STOW-RS failure reasons (PS3.18 table 10.5.3-2 and PS3.4 storage statuses). A failure is
 * reported for its own instance in FailedSOPSequence; the other instances of the request go on.
 */
export const FAILURE = {
  processingFailure: 0x0110,
  sopClassNotSupported: 0x0122,
  outOfResources: 0xa700,
  doesNotMatch: 0xa900,
  cannotUnderstand: 0xc000,
  transferSyntaxNotSupported: 0xc122,
} as const;

export class StowFailure extends Error {
  constructor(
    readonly reason: number,
    message: string,
    /** The instance's identity when it could be read, for its FailedSOPSequence item. */
    readonly ids?: { sopClassUid: string; sopUid: string },
  ) {
    super(message);
  }
}
