import type { AuditEvent, Binary, Device, Provenance, Reference } from '@medplum/fhirtypes';
import type { AccessContext, Clock } from '../shared';
import type { Repository } from '../storage';

/** Extension on Provenance pointing at the run's change log (a JSON Binary). */
export const CHANGE_LOG_EXTENSION = 'urn:fhir-dicomweb-server:StructureDefinition/deid-change-log';
const ENGINE_DEVICE = 'deid-engine';

export interface DeidRun {
  /** e.g. "basic 1". */
  profile: string;
  /** The de-identified outputs and what they came from. */
  targets: Reference[];
  sources: Reference[];
  /** Rules applied and how often; never values. */
  changeLog: unknown;
  /** Whether the run stored its output (DICOM copy) or only answered it ($deidentify-text). */
  kind: 'dicom' | 'fhir' | 'text';
}

/**
 * Traceability of a de-identification run, in one transaction: the change log as a Binary, a
 * Provenance (target = outputs, entity = sources with role source, agent = the engine as a Device
 * with the profile, activity DEID) linking to it, and an AuditEvent. None of it holds a value
 * that was removed.
 */
export async function recordDeidentification(
  repo: Repository,
  access: AccessContext,
  clock: Clock,
  run: DeidRun,
): Promise<{ provenance?: string; auditEvent: string }> {
  return repo.transaction(async (tx) => {
    const now = clock.now().toISOString();
    const device: Device = {
      resourceType: 'Device',
      id: ENGINE_DEVICE,
      status: 'active',
      deviceName: [{ name: 'fhir-dicomweb-server de-identification engine', type: 'user-friendly-name' }],
      version: [{ value: run.profile }],
    };
    await tx.update(access, device);
    const deviceRef = {
      reference: `Device/${ENGINE_DEVICE}`,
      display: `de-identification, profile ${run.profile}`,
    };
    let provenance: string | undefined;
    if (run.targets.length > 0) {
      const log = await tx.create<Binary>(access, {
        resourceType: 'Binary',
        contentType: 'application/json',
        data: Buffer.from(JSON.stringify({ profile: run.profile, changes: run.changeLog })).toString(
          'base64',
        ),
      });
      const p = await tx.create<Provenance>(access, {
        resourceType: 'Provenance',
        target: run.targets,
        recorded: now,
        activity: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
              code: 'DEID',
              display: 'deidentified',
            },
          ],
        },
        agent: [
          {
            type: {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
                  code: 'assembler',
                },
              ],
            },
            who: deviceRef,
          },
        ],
        entity: run.sources.map((what) => ({ role: 'source' as const, what })),
        extension: [{ url: CHANGE_LOG_EXTENSION, valueReference: { reference: `Binary/${log.id ?? ''}` } }],
      });
      provenance = p.id;
    }
    const audit = await tx.create<AuditEvent>(access, {
      resourceType: 'AuditEvent',
      type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106', display: 'Export' },
      subtype: [
        {
          system: 'urn:fhir-dicomweb-server:audit',
          code: `deidentify-${run.kind}`,
          display: `De-identification (${run.kind})`,
        },
      ],
      action: run.targets.length > 0 ? 'C' : 'E',
      recorded: now,
      outcome: '0',
      agent: [{ who: { display: access.actor }, requestor: true }],
      source: { observer: deviceRef },
      entity: [
        ...run.sources.map((what) => ({
          what,
          role: {
            system: 'http://terminology.hl7.org/CodeSystem/object-role',
            code: '4',
            display: 'Domain Resource',
          },
        })),
        ...(provenance ? [{ what: { reference: `Provenance/${provenance}` } }] : []),
      ],
    });
    return { provenance, auditEvent: audit.id ?? '' };
  });
}
