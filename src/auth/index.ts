export { createAuth, assertDevelopmentHost } from './auth';
export type { Auth, AuthDeps, Api } from './auth';
export { UnauthorizedError, bearerChallenge } from './errors';
