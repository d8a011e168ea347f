import type { Context } from 'koa';
import type { DicomWebDeps, DicomWebRequest } from '../dicomweb';
import { resolveDicomWeb } from '../dicomweb';
import type { AccessContext } from '../shared';
import type { Metrics } from './metrics';

export const DICOMWEB_PREFIX = '/dicom-web';

function accessOf(access: AccessContext | undefined): AccessContext {
  // Set by the access middleware for every DICOMweb path.
  if (!access) throw new Error('DICOMweb request without an access context');
  return access;
}

/** The one place DICOMweb meets Koa: builds a DicomWebRequest, writes the DicomWebResponse. */
export function dicomWebAdapter(deps: DicomWebDeps, metrics: Metrics): (ctx: Context) => Promise<void> {
  return async (ctx) => {
    const segments = ctx.path
      .slice(DICOMWEB_PREFIX.length)
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
    const req: DicomWebRequest = {
      method: ctx.method as DicomWebRequest['method'],
      segments,
      query: [...new URLSearchParams(ctx.querystring).entries()],
      headers: {
        accept: ctx.get('Accept') || undefined,
        contentType: ctx.get('Content-Type') || undefined,
        prefer: ctx.get('Prefer') || undefined,
      },
      body: ctx.method === 'POST' ? ctx.req : undefined,
      access: accessOf(ctx.state.access as AccessContext | undefined),
    };
    const route = resolveDicomWeb(req);
    ctx.state.interaction = `dicomweb-${route.name}`;
    const end = metrics.duration.startTimer({
      interaction: ctx.state.interaction as string,
      method: ctx.method,
    });
    try {
      const res = await route.handler(req, deps);
      ctx.status = res.status;
      for (const [k, v] of Object.entries(res.headers ?? {})) ctx.set(k, v);
      if (res.body !== undefined) {
        ctx.body = res.body;
        // Set verbatim: Koa's type setter would rewrite multipart parameters and add charsets.
        if (res.contentType) ctx.set('Content-Type', res.contentType);
      }
    } finally {
      end();
    }
  };
}
