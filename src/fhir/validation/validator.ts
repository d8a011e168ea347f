import { loadDataType, OperationOutcomeError, validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { FhirError } from '../../shared';
import type { Repository } from '../../storage';
import type { ValueSetExpander } from '../../terminology';
import { checkRequiredBindings } from './bindings';
import type { ProfileRegistry } from './profiles';

function runMedplum(resource: Resource, profile?: StructureDefinition): OperationOutcomeIssue[] {
  try {
    return validateResource(resource, profile ? { profile } : undefined);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.outcome.issue ?? [];
    return [
      {
        severity: 'error',
        code: 'processing',
        diagnostics: (err as Error).message,
        details: { text: (err as Error).message },
      },
    ];
  }
}

/**
 * Validation on every write: R4 base StructureDefinitions (structure, cardinality, types,
 * invariants), required bindings, and each profile in meta.profile that the server knows.
 */
export class Validator {
  constructor(
    private readonly expander: ValueSetExpander,
    private readonly profiles: ProfileRegistry,
  ) {}

  async validate(
    resource: Resource,
    repo: Repository,
    extraProfile?: string,
  ): Promise<OperationOutcomeIssue[]> {
    const issues = [...runMedplum(resource), ...checkRequiredBindings(resource, this.expander)];
    const urls = [...(resource.meta?.profile ?? []), ...(extraProfile ? [extraProfile] : [])];
    for (const url of urls) {
      const sd = await this.profiles.resolve(url, repo);
      if (!sd?.snapshot) {
        issues.push({
          severity: url === extraProfile ? 'error' : 'warning',
          code: 'not-supported',
          details: { text: `Profile ${url} is not known to this server; not validated against it` },
          expression: ['meta.profile'],
        });
        continue;
      }
      loadDataType(sd);
      issues.push(...runMedplum(resource, sd));
    }
    return issues;
  }

  /** Throws a 400 OperationOutcome listing every error (warnings alone pass). */
  async assertValid(resource: Resource, repo: Repository): Promise<void> {
    const issues = await this.validate(resource, repo);
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    if (errors.length > 0) throw new FhirError(400, { resourceType: 'OperationOutcome', issue: errors });
  }
}
