import { createHash } from 'node:crypto';
import escapeHtml from 'escape-html';

/** The pages' only style, inline and allowed by its hash: no external assets, no scripts. */
const STYLE = `body{font-family:system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1b1f23}
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:6px;box-shadow:0 1px 3px #0003}
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:1rem 0 .25rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #767676;border-radius:4px}
button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem;border-radius:4px;border:1px solid #0b5cad;background:#0b5cad;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0b5cad}button:focus,input:focus{outline:3px solid #ffbf47}
.error{border-left:4px solid #b00020;padding:.5rem .8rem;background:#fde7ea}ul{padding-left:1.2rem}code{word-break:break-all}`;
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

export interface Page {
  status: number;
  html: string;
  headers: Record<string, string>;
}

/**
 * Security headers of every page: no caching, no framing, no referrer, no script at all, style
 * only by hash; forms post to this server (and redirects after a post may go on to the client's
 * redirect URI origin, which browsers also check against form-action).
 */
export function pageHeaders(formTargets: readonly string[] = []): Record<string, string> {
  const formAction = ["'self'", ...formTargets].join(' ');
  return {
    'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
  };
}

export const esc = (value: string): string => escapeHtml(value);

/** A whole page; `body` must already be escaped HTML. */
export function page(title: string, body: string, status = 200, formTargets: readonly string[] = []): Page {
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${esc(title)}</h1>
${body}
</main>
</body>
</html>
`;
  return { status, html, headers: pageHeaders(formTargets) };
}

export function errorPage(title: string, message: string, status: number): Page {
  return page(title, `<p class="error" role="alert">${esc(message)}</p>`, status);
}

export interface LoginView {
  action: string;
  abortAction: string;
  csrf: string;
  clientName: string;
  username?: string;
  error?: string;
}

export function loginPage(v: LoginView, status = 200, formTargets: readonly string[] = []): Page {
  const error = v.error ? `<p class="error" role="alert" id="login-error">${esc(v.error)}</p>` : '';
  const described = v.error ? ' aria-describedby="login-error"' : '';
  return page(
    'Sign in',
    `<p>Sign in to continue to <strong>${esc(v.clientName)}</strong>.</p>
${error}
<form method="post" action="${esc(v.action)}">
<input type="hidden" name="csrf" value="${esc(v.csrf)}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${esc(v.username ?? '')}"${described}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${described}>
<button type="submit">Sign in</button>
</form>
<form method="post" action="${esc(v.abortAction)}">
<input type="hidden" name="csrf" value="${esc(v.csrf)}">
<button type="submit" class="secondary">Cancel</button>
</form>`,
    status,
    formTargets,
  );
}

export interface ConsentView {
  action: string;
  csrf: string;
  clientName: string;
  username: string;
  granted: readonly string[];
  denied: readonly string[];
  /** Extra HTML (already escaped) from a launch step: the chosen patient, a notice. */
  context?: string;
}

export function consentPage(v: ConsentView, formTargets: readonly string[] = []): Page {
  const list = (scopes: readonly string[]): string =>
    `<ul>${scopes.map((s) => `<li><code>${esc(s)}</code></li>`).join('')}</ul>`;
  const granted = v.granted.length
    ? `<p>If you allow it, <strong>${esc(v.clientName)}</strong> will get these permissions:</p>${list(v.granted)}`
    : `<p><strong>${esc(v.clientName)}</strong> would get no permissions.</p>`;
  const denied = v.denied.length
    ? `<p>Asked for but not available to you or to this app (not granted):</p>${list(v.denied)}`
    : '';
  return page(
    'Allow access?',
    `<p>Signed in as <strong>${esc(v.username)}</strong>.</p>
${v.context ?? ''}
${granted}
${denied}
<form method="post" action="${esc(v.action)}">
<input type="hidden" name="csrf" value="${esc(v.csrf)}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`,
    200,
    formTargets,
  );
}
