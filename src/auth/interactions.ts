import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { AccessResolver, Principal } from '../shared';
import { registeredScopes, STATIC_SCOPES } from './clients';
import type { LaunchContext, LaunchContexts } from './context';
import { splitScope } from './context';
import { INTERACTION_PATH, OAUTH_PREFIX } from './discovery';
import type { Interaction, Provider } from './oidc';
import type { Page } from './pages';
import { consentPage, errorPage, loginPage } from './pages';
import type { LocalUser, UserStore } from './users';

/** Scopes oidc-provider treats as OpenID Connect scopes (the rest are the FHIR server's). */
const OIDC_SCOPES = new Set<string>(STATIC_SCOPES);
const MAX_FORM_BYTES = 16 * 1024;

export interface InteractionDeps {
  provider: (ctx: Context) => Provider;
  fhirBase: (ctx: Context) => string;
  users: UserStore;
  resolver: AccessResolver;
  contexts: LaunchContexts;
  /** Whether a `Practitioner/…` or `Patient/…` reference exists (issue 21.3: checked at login). */
  fhirUserExists(reference: string): Promise<boolean>;
  csrfKey: string;
  grantTtlSeconds: number;
}

/**
 * Launch context of the authorization being confirmed. Extension point for the next steps, in
 * this order: EHR launch (resolve `details.params.launch` into patient/encounter), the standalone
 * patient picker (`launch/patient` asked: a page of its own before consent), break-glass.
 */
export function launchContextFor(_details: Interaction, _user: LocalUser): Promise<LaunchContext> {
  return Promise.resolve({});
}

function send(ctx: Context, p: Page): void {
  ctx.status = p.status;
  ctx.set(p.headers);
  ctx.type = 'html';
  ctx.body = p.html;
}

async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) return new URLSearchParams();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return new URLSearchParams();
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const EXPIRED =
  'This sign-in request has expired or was already completed. Go back to the app and start again.';

/** The login and consent pages oidc-provider sends the browser to (interactions.url). */
export function interactionRoutes(deps: InteractionDeps): Middleware {
  const router = new Router({ prefix: `${OAUTH_PREFIX}${INTERACTION_PATH}` });
  const csrfFor = (uid: string): string =>
    createHmac('sha256', deps.csrfKey).update(`interaction ${uid}`).digest('base64url');
  const formTargets = (details: Interaction): string[] => {
    const origin = URL.parse(
      typeof details.params.redirect_uri === 'string' ? details.params.redirect_uri : '',
    )?.origin;
    return origin && origin !== 'null' ? [origin] : [];
  };

  /** The interaction of this browser (its cookie) if it is the one in the URL, else an error page. */
  const load = async (ctx: Context): Promise<{ provider: Provider; details: Interaction } | undefined> => {
    const provider = deps.provider(ctx);
    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      if (details.uid === (ctx.params as Record<string, string>).uid) return { provider, details };
    } catch {
      // No cookie, or the interaction has expired.
    }
    send(ctx, errorPage('Sign-in expired', EXPIRED, 400));
    return undefined;
  };

  /** A form post: its CSRF token must be this interaction's (bound to the cookie through the uid). */
  const post = async (
    ctx: Context,
  ): Promise<{ provider: Provider; details: Interaction; form: URLSearchParams } | undefined> => {
    const form = await readForm(ctx);
    const loaded = await load(ctx);
    if (!loaded) return undefined;
    const given = Buffer.from(form.get('csrf') ?? '');
    const expected = Buffer.from(csrfFor(loaded.details.uid));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      send(
        ctx,
        errorPage(
          'Sign-in cannot continue',
          'The form was not sent by this page. Start again from the app.',
          403,
        ),
      );
      return undefined;
    }
    return { ...loaded, form };
  };

  const finish = async (ctx: Context, provider: Provider, result: Record<string, unknown>): Promise<void> => {
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(to);
  };

  const clientName = async (provider: Provider, details: Interaction): Promise<string> => {
    const client = await provider.Client.find(String(details.params.client_id));
    return client?.clientName ?? client?.clientId ?? 'the application';
  };

  const loginView = async (provider: Provider, details: Interaction, error?: string, username?: string) => ({
    action: `${OAUTH_PREFIX}${INTERACTION_PATH}/${details.uid}/login`,
    abortAction: `${OAUTH_PREFIX}${INTERACTION_PATH}/${details.uid}/abort`,
    csrf: csrfFor(details.uid),
    clientName: await clientName(provider, details),
    ...(error && { error }),
    ...(username && { username }),
  });

  /** What consent would grant: asked ∩ the client's registered scopes ∩ what the user may have. */
  const decide = async (provider: Provider, details: Interaction, user: LocalUser) => {
    const asked = splitScope(details.params.scope as string | undefined);
    const client = await provider.Client.find(String(details.params.client_id));
    const context = await launchContextFor(details, user);
    const principal: Omit<Principal, 'scopes'> = {
      kind: 'user',
      clientId: String(details.params.client_id),
      username: user.username,
      ...(user.fhirUser && { fhirUser: user.fhirUser }),
      admin: user.admin,
      ...(context.patient && { patient: context.patient }),
      ...(context.encounter && { encounter: context.encounter }),
    };
    const granted = await deps.resolver.grantable(asked, registeredScopes(client), principal);
    return { asked, granted, denied: asked.filter((s) => !granted.includes(s)), context };
  };

  const sessionUser = async (details: Interaction): Promise<LocalUser | undefined> => {
    const user = details.session?.accountId ? await deps.users.find(details.session.accountId) : undefined;
    return user && !user.disabled ? user : undefined;
  };

  router.get('/:uid', async (ctx) => {
    const loaded = await load(ctx);
    if (!loaded) return;
    const { provider, details } = loaded;
    if (details.prompt.name === 'login') {
      send(ctx, loginPage(await loginView(provider, details), 200, formTargets(details)));
      return;
    }
    const user = await sessionUser(details);
    if (!user) {
      await finish(ctx, provider, { error: 'access_denied', error_description: 'the user may not sign in' });
      return;
    }
    const { granted, denied } = await decide(provider, details, user);
    send(
      ctx,
      consentPage(
        {
          action: `${OAUTH_PREFIX}${INTERACTION_PATH}/${details.uid}/consent`,
          csrf: csrfFor(details.uid),
          clientName: await clientName(provider, details),
          username: user.username,
          granted,
          denied,
        },
        formTargets(details),
      ),
    );
  });

  router.post('/:uid/login', async (ctx) => {
    const posted = await post(ctx);
    if (!posted) return;
    const { provider, details, form } = posted;
    const username = form.get('username') ?? '';
    const result = await deps.users.authenticate(username, form.get('password') ?? '');
    if (!result.ok) {
      const message =
        'Sign-in failed: the username or password is wrong, or sign-in is paused after too many failures.';
      send(ctx, loginPage(await loginView(provider, details, message, username), 200, formTargets(details)));
      return;
    }
    const { fhirUser } = result.user;
    if (fhirUser && !(await deps.fhirUserExists(fhirUser))) {
      const message = `Your account ${result.user.username} is linked to ${fhirUser}, which does not exist on this server yet. Ask an administrator to create it, then sign in again.`;
      send(ctx, errorPage('Account not ready', message, 403));
      return;
    }
    await finish(ctx, provider, {
      login: { accountId: result.user.username, amr: ['pwd'], remember: false },
    });
  });

  router.post('/:uid/consent', async (ctx) => {
    const posted = await post(ctx);
    if (!posted) return;
    const { provider, details, form } = posted;
    const user = await sessionUser(details);
    if (form.get('decision') !== 'allow' || !user || details.prompt.name !== 'consent') {
      await finish(ctx, provider, {
        error: 'access_denied',
        error_description: 'the user did not allow access',
      });
      return;
    }
    // Decided again here, never taken from the form.
    const { asked, granted, denied, context } = await decide(provider, details, user);
    const grant = new provider.Grant({
      accountId: user.username,
      clientId: String(details.params.client_id),
    });
    const fhirBase = deps.fhirBase(ctx);
    grant.addOIDCScope(granted.filter((s) => OIDC_SCOPES.has(s)).join(' '));
    grant.rejectOIDCScope(asked.filter((s) => OIDC_SCOPES.has(s) && !granted.includes(s)).join(' '));
    grant.addResourceScope(fhirBase, granted.join(' '));
    if (denied.length) grant.rejectResourceScope(fhirBase, denied.join(' '));
    const grantId = await grant.save();
    if (Object.keys(context).length) await deps.contexts.save(grantId, context, deps.grantTtlSeconds);
    await finish(ctx, provider, { consent: { grantId } });
  });

  router.post('/:uid/abort', async (ctx) => {
    const posted = await post(ctx);
    if (!posted) return;
    await finish(ctx, posted.provider, {
      error: 'access_denied',
      error_description: 'the user cancelled the sign-in',
    });
  });

  // @koa/router's context type adds params; Koa's Middleware type does not know it.
  return router.routes() as unknown as Middleware;
}
