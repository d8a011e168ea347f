// Order matters: the filter is installed before oidc-provider runs its load-time check.
import { restoreConsoleWarn } from './quiet-runtime-warning';
import { errors, interactionPolicy, Provider } from 'oidc-provider';

restoreConsoleWarn();

export { errors, interactionPolicy, Provider };
export type * from 'oidc-provider';
