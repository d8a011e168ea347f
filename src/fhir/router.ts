import { FhirError, methodNotAllowed, notFound } from '../shared';
import { asyncCancelInteraction, asyncStatusInteraction, enqueueAsync, wantsAsync } from './async';
import { createBatchHandler } from './interactions/batch';
import { capabilitiesInteraction } from './interactions/capabilities';
import { createInteraction } from './interactions/create';
import { conditionalDeleteInteraction, deleteInteraction } from './interactions/delete';
import { historyInteraction } from './interactions/history';
import { conditionalPatchInteraction, patchInteraction } from './interactions/patch';
import { readInteraction, vreadInteraction } from './interactions/read';
import { searchInteraction } from './interactions/search';
import { conditionalUpdateInteraction, updateInteraction } from './interactions/update';
import type { OperationLevel } from './operations';
import { isRouted, OPERATIONS } from './operations';
import { assertValidId } from './http-semantics';
import { assertKnownType } from './prepare';
import type { Interaction } from './routes';
import { resolveRoute } from './routes';
import type { FhirHandler } from './types';

function operation(name: string | undefined, level: OperationLevel, type?: string): FhirHandler {
  const spec = name !== undefined && Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
  if (!spec || !isRouted(spec, level, type))
    throw notFound(`Unknown operation $${name ?? ''}${level === 'system' ? '' : ` on ${type ?? ''}`}`);
  return spec.handler;
}

const runOperation =
  (level: OperationLevel): FhirHandler =>
  (req, deps) =>
    operation(req.params?.operation, level, req.params?.type)(req, deps);

const LEVELS: Partial<Record<Interaction, OperationLevel>> = {
  'operation-system': 'system',
  'operation-type': 'type',
  'operation-instance': 'instance',
};

/** The framework-free FHIR entry point: one request in, one response out. */
export function createFhirDispatcher(): FhirHandler {
  const handlers: Record<Interaction, FhirHandler> = {
    capabilities: capabilitiesInteraction,
    batch: (req, deps) => batch(req, deps),
    'history-system': historyInteraction,
    'history-type': historyInteraction,
    'history-instance': historyInteraction,
    'search-type': searchInteraction,
    create: createInteraction,
    'conditional-update': conditionalUpdateInteraction,
    'conditional-patch': conditionalPatchInteraction,
    'conditional-delete': conditionalDeleteInteraction,
    read: readInteraction,
    vread: vreadInteraction,
    update: updateInteraction,
    patch: patchInteraction,
    delete: deleteInteraction,
    'operation-type': runOperation('type'),
    'operation-instance': runOperation('instance'),
    'operation-system': runOperation('system'),
    'async-status': asyncStatusInteraction,
    'async-cancel': asyncCancelInteraction,
  };
  const dispatch: FhirHandler = async (req, deps) => {
    const route = resolveRoute(req.method, req.path);
    if (route === undefined) throw notFound(`Unknown path /${req.path}`);
    if (route === 'method') throw methodNotAllowed(`${req.method} is not allowed on /${req.path}`);
    const { type, id } = route.params;
    if (type) assertKnownType(type, deps);
    if (id) assertValidId(id);
    const routed = { ...req, params: route.params };
    if (wantsAsync(routed)) {
      // Checked now, so a request for an unknown operation is refused at once, not by the worker.
      const level = LEVELS[route.interaction];
      if (level) operation(route.params.operation, level, type);
      return enqueueAsync(routed, deps);
    }
    const res = await handlers[route.interaction](routed, deps);
    if (res.status >= 400 && !(res.body?.resourceType === 'OperationOutcome'))
      throw new FhirError(res.status, { code: 'exception', message: 'Error' });
    return res;
  };
  const batch = createBatchHandler(dispatch);
  return dispatch;
}
