import { isResourceType, tryGetDataType } from '@medplum/core';

/** Whether a rule selects an element, given its path without indices and its FHIR type. */
export type NodeMatcher = (path: string, type: string) => boolean;

export class RuleError extends Error {}

const ANY_RESOURCE = new Set(['Resource', 'DomainResource']);
const NAME = /^[a-z][A-Za-z0-9]*$/;
const TYPE = /^[A-Za-z][A-Za-z0-9]*$/;
const FUNCTION = /^(nodesByType|nodesByName|ofType|descendants)\((?:'([^']*)'|([A-Za-z][A-Za-z0-9]*))?\)$/;

/**
 * Compiles the FHIRPath subset de-identification rules are written in (the node selectors of
 * Microsoft's FHIR anonymizer): `Type.element.element`, `Resource.…` for any type,
 * `descendants()`, `nodesByType('T')`, `nodesByName('n')`, a final `ofType(T)`, and `|` unions.
 * Selection by path and type is all a rule needs, and a subset the server checks against the R4
 * definitions catches a misspelt element before it silently selects nothing.
 */
export function compileNodeSelector(expression: string): NodeMatcher {
  const branches = expression.split('|').map((b) => b.trim());
  if (branches.some((b) => b === '')) throw new RuleError(`'${expression}' has an empty branch`);
  const matchers = branches.map(compileBranch);
  return (path, type) => matchers.some((m) => m(path, type));
}

function compileBranch(branch: string): NodeMatcher {
  const steps = splitSteps(branch);
  let regex = '^';
  let onlyType: string | undefined;
  // The FHIR type the previous step selected, while it is known, to check element names.
  let known: string | undefined;
  steps.forEach((step, i) => {
    const fn = FUNCTION.exec(step);
    if (onlyType) throw new RuleError(`'${branch}': nodesByType and ofType must be the last step`);
    if (i === 0 && !fn) {
      if (ANY_RESOURCE.has(step)) regex += '[A-Z][A-Za-z]*';
      else if (isResourceType(step)) {
        regex += step;
        known = step;
      } else throw new RuleError(`'${branch}' must start with a resource type, Resource or a function`);
      return;
    }
    if (i === 0) regex += '[A-Z][A-Za-z]*';
    if (!fn) {
      if (!NAME.test(step)) throw new RuleError(`'${branch}': '${step}' is not an element name`);
      if (known) known = childType(branch, known, step);
      regex += `\\.${step}`;
      return;
    }
    const [, name, quoted, bare] = fn;
    const arg = quoted ?? bare;
    known = undefined;
    switch (name) {
      case 'descendants':
        if (arg !== undefined) throw new RuleError(`'${branch}': descendants() takes no argument`);
        regex += '(?:\\.[A-Za-z0-9]+)+';
        return;
      case 'nodesByName':
        if (!arg || !NAME.test(arg)) throw new RuleError(`'${branch}': nodesByName needs an element name`);
        regex += `(?:\\.[A-Za-z0-9]+)*\\.${arg}`;
        return;
      case 'nodesByType':
        regex += '(?:\\.[A-Za-z0-9]+)+';
        onlyType = checkType(branch, arg);
        return;
      default: // ofType filters what the steps before it selected
        if (i === 0) throw new RuleError(`'${branch}': ofType needs something to filter`);
        onlyType = checkType(branch, arg);
    }
  });
  const re = new RegExp(`${regex}$`);
  return (path, type) => (!onlyType || onlyType === type) && re.test(path);
}

function splitSteps(branch: string): string[] {
  const steps: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < branch.length; i++) {
    const c = branch[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '.' && depth === 0) {
      steps.push(branch.slice(start, i));
      start = i + 1;
    }
  }
  steps.push(branch.slice(start));
  if (steps.some((s) => s === '')) throw new RuleError(`'${branch}' has an empty step`);
  return steps;
}

function checkType(branch: string, type: string | undefined): string {
  if (!type || !TYPE.test(type) || !tryGetDataType(type))
    throw new RuleError(`'${branch}': '${type ?? ''}' is not a FHIR R4 type`);
  return type;
}

/** The type of `parent.name`, or undefined when it varies (choice elements, contained resources). */
function childType(branch: string, parent: string, name: string): string | undefined {
  const element = tryGetDataType(parent)?.elements[name] ?? tryGetDataType(parent)?.elements[`${name}[x]`];
  if (!element) throw new RuleError(`'${branch}': ${parent} has no element '${name}'`);
  const types = element.type;
  return types.length === 1 ? types[0]?.code : undefined;
}
