import type { DicomJson } from './dicom-json';

/** Attributes kept per study (Patient and General Study modules) for QIDO-RS answers. */
export const STUDY_TAGS = [
  '00080005', // SpecificCharacterSet
  '00080020', // StudyDate
  '00080030', // StudyTime
  '00080050', // AccessionNumber
  '00080051', // IssuerOfAccessionNumberSequence
  '00080090', // ReferringPhysicianName
  '00080201', // TimezoneOffsetFromUTC
  '00081030', // StudyDescription
  '00081032', // ProcedureCodeSequence
  '00081060', // NameOfPhysiciansReadingStudy
  '00100010', // PatientName
  '00100020', // PatientID
  '00100021', // IssuerOfPatientID
  '00100030', // PatientBirthDate
  '00100040', // PatientSex
  '00101010', // PatientAge
  '00101020', // PatientSize
  '00101030', // PatientWeight
  '0020000D', // StudyInstanceUID
  '00200010', // StudyID
  '00321060', // RequestedProcedureDescription
];

/** Attributes kept per series (General Series and Equipment modules). */
export const SERIES_TAGS = [
  '00080021', // SeriesDate
  '00080031', // SeriesTime
  '00080060', // Modality
  '00080070', // Manufacturer
  '00080080', // InstitutionName
  '00081010', // StationName
  '0008103E', // SeriesDescription
  '00081050', // PerformingPhysicianName
  '00081070', // OperatorsName
  '00081090', // ManufacturerModelName
  '00180015', // BodyPartExamined
  '00181030', // ProtocolName
  '00185100', // PatientPosition
  '0020000E', // SeriesInstanceUID
  '00200011', // SeriesNumber
  '00200052', // FrameOfReferenceUID
  '00200060', // Laterality
  '00400244', // PerformedProcedureStepStartDate
  '00400245', // PerformedProcedureStepStartTime
  '00400275', // RequestAttributesSequence
];

/** PS3.18 table 10.6.3-3 default return attributes per level (computed ones added by the query). */
export const DEFAULT_RETURN = {
  study: [
    '00080005',
    '00080020',
    '00080030',
    '00080050',
    '00080090',
    '00080201',
    '00081030',
    '00100010',
    '00100020',
    '00100030',
    '00100040',
    '0020000D',
    '00200010',
  ],
  series: [
    '00080005',
    '00080060',
    '00080201',
    '0008103E',
    '0020000E',
    '00200011',
    '00400244',
    '00400245',
    '00400275',
  ],
  instance: [
    '00080005',
    '00080016',
    '00080018',
    '00080201',
    '00200013',
    '00280008',
    '00280010',
    '00280011',
    '00280100',
  ],
} as const;

export function pick(json: DicomJson, tags: readonly string[]): DicomJson {
  const out: DicomJson = {};
  for (const t of tags) {
    const a = json[t];
    if (a) out[t] = a;
  }
  return out;
}
