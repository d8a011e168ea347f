/**
 * The calendar day `days` after year-month-day, or undefined when that is no date (02/30).
 * Every date shifter (DICOM DA/DT, FHIR date/dateTime, dates written in text) goes through it,
 * so one patient's offset moves all of them alike.
 */
export function addDays(year: number, month: number, day: number, days: number): Date | undefined {
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day)
    return undefined;
  date.setUTCDate(date.getUTCDate() + days);
  return date;
}
