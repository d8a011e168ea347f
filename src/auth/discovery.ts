import type { CapabilityStatementRestSecurity } from '@medplum/fhirtypes';

/** Where oidc-provider is mounted; the issuer is `${base}/oauth2`. */
export const OAUTH_PREFIX = '/oauth2';

/** oidc-provider routes, below OAUTH_PREFIX. */
export const ROUTES = {
  authorization: '/authorize',
  token: '/token',
  jwks: '/jwks',
  introspection: '/introspect',
  revocation: '/revoke',
  registration: '/register',
  userinfo: '/userinfo',
  end_session: '/logout',
} as const;

/** The login and consent pages, below OAUTH_PREFIX. */
export const INTERACTION_PATH = '/interaction';

/**
 * The server's base URL for a request: PUBLIC_URL when configured, otherwise the request's own
 * scheme, host and port (Koa 3 ctx.protocol + ctx.host; X-Forwarded-* count only with TRUST_PROXY). The FHIR
 * base, the `aud` a client must send, is this plus `/fhir`.
 */
export function requestBase(origin: string, publicUrl: string | undefined): string {
  return publicUrl ?? origin;
}

export interface SmartEndpoints {
  issuer: string;
  jwks: string;
  authorize: string;
  token: string;
  introspect: string;
  revoke: string;
  register: string;
  userinfo: string;
}

export function smartEndpoints(base: string): SmartEndpoints {
  const at = (route: string): string => `${base}${OAUTH_PREFIX}${route}`;
  return {
    issuer: `${base}${OAUTH_PREFIX}`,
    jwks: at(ROUTES.jwks),
    authorize: at(ROUTES.authorization),
    token: at(ROUTES.token),
    introspect: at(ROUTES.introspection),
    revoke: at(ROUTES.revocation),
    register: at(ROUTES.registration),
    userinfo: at(ROUTES.userinfo),
  };
}

export const CAPABILITIES = [
  'launch-ehr',
  'launch-standalone',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'sso-openid-connect',
  'context-ehr-patient',
  'context-ehr-encounter',
  'context-standalone-patient',
  'permission-offline',
  'permission-online',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
] as const;

/** Scopes other than resource scopes (`patient/…`, `user/…`, `system/…`). */
export const BASE_SCOPES = [
  'openid',
  'fhirUser',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
] as const;

export const SCOPES_SUPPORTED = [
  ...BASE_SCOPES,
  ...['patient', 'user', 'system'].flatMap((c) => [
    `${c}/*.cruds`,
    `${c}/*.rs`,
    `${c}/*.read`,
    `${c}/*.write`,
    `${c}/*.*`,
  ]),
];

/** `/.well-known/smart-configuration` (SMART App Launch 2.2 §2.4). */
export function smartConfiguration(base: string): Record<string, unknown> {
  const e = smartEndpoints(base);
  return {
    issuer: e.issuer,
    jwks_uri: e.jwks,
    authorization_endpoint: e.authorize,
    token_endpoint: e.token,
    introspection_endpoint: e.introspect,
    revocation_endpoint: e.revoke,
    registration_endpoint: e.register,
    userinfo_endpoint: e.userinfo,
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    code_challenge_methods_supported: ['S256'],
    response_types_supported: ['code'],
    scopes_supported: SCOPES_SUPPORTED,
    capabilities: [...CAPABILITIES],
  };
}

const OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

/** CapabilityStatement.rest.security: SMART-on-FHIR and where its endpoints are. */
export function capabilitySecurity(base: string): CapabilityStatementRestSecurity {
  const e = smartEndpoints(base);
  const uris: [string, string][] = [
    ['authorize', e.authorize],
    ['token', e.token],
    ['register', e.register],
    ['manage', `${base}${OAUTH_PREFIX}/manage`],
    ['introspect', e.introspect],
    ['revoke', e.revoke],
  ];
  return {
    cors: true,
    service: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
            code: 'SMART-on-FHIR',
            display: 'SMART-on-FHIR',
          },
        ],
        text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
      },
    ],
    extension: [{ url: OAUTH_URIS, extension: uris.map(([url, valueUri]) => ({ url, valueUri })) }],
  };
}
