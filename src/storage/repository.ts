import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Binary, Resource } from '@medplum/fhirtypes';
import type { AccessContext, AccessPolicy, Clock } from '../shared';
import { FhirError, gone, notFound, preconditionFailed } from '../shared';
import type { BlobStore } from './blob-store';
import type { Database, Executor } from './database';
import { isRetryableDbError } from './database';
import { INDEX_TABLES } from './migrations';
import { collectLocalReferences } from './references';
import type { ResourceRow, VersionRow } from './rows';
import { toHistoryEntry, toStored } from './rows';
import { TxScope } from './scope';
import type { HistoryPage, HistoryQuery, StoredVersion, WriteHook, WriteMethod } from './types';

export interface RepositoryDeps {
  db: Database;
  blobs: BlobStore;
  clock: Clock;
  policy: AccessPolicy;
  hooks: WriteHook[];
  /** `${baseUrl}/fhir`, to recognise absolute references to this server as local. */
  fhirBase: string;
  maxTransactionRetries?: number;
}

export interface WriteResult<T extends Resource = Resource> {
  resource: T;
  created: boolean;
  /** False when an update carried the same content as the current version (no new version). */
  changed: boolean;
}

export interface UpdateOptions {
  /** Expected current version (If-Match); 412 on mismatch or when the resource does not exist. */
  ifMatch?: number;
  /** If-None-Match: * — only create, 412 if a live resource exists. */
  createOnly?: boolean;
  method?: WriteMethod;
  binary?: Buffer;
}

/**
 * Stores resources and their versions. Everything else (validation, search indexing,
 * referential integrity, access policy decisions) is injected or layered around it.
 * A Repository is bound to an executor: the root database, or one transaction.
 */
export class Repository {
  constructor(
    private readonly deps: RepositoryDeps,
    private readonly exec: Executor = deps.db,
    private readonly scope?: TxScope,
  ) {}

  get executor(): Executor {
    return this.exec;
  }

  get fhirBase(): string {
    return this.deps.fhirBase;
  }

  /**
   * Runs fn in one database transaction (joining the current one if already inside). The
   * outermost call retries on serialization failures and unique-key races, re-running fn.
   */
  async transaction<T>(fn: (repo: Repository) => Promise<T>): Promise<T> {
    if (this.scope) return fn(this);
    const retries = this.deps.maxTransactionRetries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const scope = new TxScope();
      try {
        return await this.deps.db.transaction(async (trx) => {
          const result = await fn(new Repository(this.deps, trx, scope));
          await scope.runCommitChecks();
          return result;
        });
      } catch (err) {
        await scope.runRollbacks();
        if (attempt < retries && isRetryableDbError(err)) continue;
        throw err;
      }
    }
  }

  assertRead(access: AccessContext, resourceType: string): void {
    if (!this.deps.policy.canRead(access, resourceType)) {
      throw new FhirError(403, { code: 'forbidden', message: `Not allowed to read ${resourceType}` });
    }
  }

  assertWrite(access: AccessContext, resourceType: string): void {
    if (!this.deps.policy.canWrite(access, resourceType)) {
      throw new FhirError(403, { code: 'forbidden', message: `Not allowed to write ${resourceType}` });
    }
  }

  async readStored(
    access: AccessContext,
    resourceType: string,
    id: string,
  ): Promise<StoredVersion | undefined> {
    this.assertRead(access, resourceType);
    const row = await this.exec<ResourceRow>('resource').where({ resource_type: resourceType, id }).first();
    return row ? toStored(row) : undefined;
  }

  async read<T extends Resource = Resource>(
    access: AccessContext,
    resourceType: string,
    id: string,
  ): Promise<T> {
    const stored = await this.readStored(access, resourceType, id);
    if (!stored) throw notFound(`${resourceType}/${id} not found`);
    if (stored.deleted || stored.content === null) throw gone(`${resourceType}/${id} has been deleted`);
    return JSON.parse(stored.content) as T;
  }

  async vread<T extends Resource = Resource>(
    access: AccessContext,
    resourceType: string,
    id: string,
    versionId: string,
  ): Promise<T> {
    this.assertRead(access, resourceType);
    const vid = Number(versionId);
    const row = Number.isInteger(vid)
      ? await this.exec<VersionRow>('resource_version')
          .where({ resource_type: resourceType, id, version_id: vid })
          .first()
      : undefined;
    if (!row) throw notFound(`${resourceType}/${id}/_history/${versionId} not found`);
    if (row.deleted || row.content === null)
      throw gone(`${resourceType}/${id}/_history/${versionId} is a deletion`);
    return JSON.parse(row.content) as T;
  }

  async create<T extends Resource>(
    access: AccessContext,
    resource: T,
    options: { id?: string; binary?: Buffer } = {},
  ): Promise<T> {
    const id = options.id ?? randomUUID();
    const result = await this.update(
      access,
      { ...resource, id },
      { createOnly: true, method: 'POST', ...options },
    );
    return result.resource;
  }

  async update<T extends Resource>(
    access: AccessContext,
    resource: T,
    options: UpdateOptions = {},
  ): Promise<WriteResult<T>> {
    this.assertWrite(access, resource.resourceType);
    const id = resource.id;
    if (!id)
      throw new FhirError(400, { code: 'invalid', message: 'Resource id is required', expression: 'id' });
    return this.transaction(async (repo) => {
      const current = await repo
        .exec<ResourceRow>('resource')
        .where({ resource_type: resource.resourceType, id })
        .forUpdate()
        .first();
      const live = current && !current.deleted;
      if (options.createOnly && live) {
        if (options.method === 'POST')
          throw new FhirError(409, {
            code: 'duplicate',
            message: `${resource.resourceType}/${id} already exists`,
          });
        throw preconditionFailed(`${resource.resourceType}/${id} already exists`);
      }
      if (options.ifMatch !== undefined && (!live || current.version_id !== options.ifMatch)) {
        throw preconditionFailed(
          `Version conflict: If-Match ${options.ifMatch} but current version is ${live ? current.version_id : 'none'}`,
        );
      }
      const { body, binary } = splitBinary(resource, options.binary);
      if (live && current.content !== null && !binary && sameContent(current.content, body)) {
        return { resource: JSON.parse(current.content) as T, created: false, changed: false };
      }
      const versionId = (current?.version_id ?? 0) + 1;
      const lastUpdated = repo.deps.clock.now();
      const stored = withMeta(body, versionId, lastUpdated);
      const content = serialize(stored);
      const method: WriteMethod = options.method ?? 'PUT';
      const row = {
        resource_type: resource.resourceType,
        id,
        version_id: versionId,
        last_updated: lastUpdated,
        deleted: false,
        content,
      };
      if (current)
        await repo.exec('resource').where({ resource_type: resource.resourceType, id }).update(row);
      else await repo.exec('resource').insert(row);
      await repo.exec('resource_version').insert({ ...row, method });
      if (binary) await repo.storeBinary(id, versionId, binary);
      await repo.afterWrite(access, live ? 'update' : 'create', stored, versionId);
      return {
        resource: binary ? { ...stored, data: binary.toString('base64') } : stored,
        created: !live,
        changed: true,
      };
    });
  }

  async delete(
    access: AccessContext,
    resourceType: string,
    id: string,
    options: { ifMatch?: number } = {},
  ): Promise<{ existed: boolean; versionId?: number }> {
    this.assertWrite(access, resourceType);
    return this.transaction(async (repo) => {
      const current = await repo
        .exec<ResourceRow>('resource')
        .where({ resource_type: resourceType, id })
        .forUpdate()
        .first();
      if (
        options.ifMatch !== undefined &&
        (!current || current.deleted || current.version_id !== options.ifMatch)
      ) {
        throw preconditionFailed(`Version conflict: If-Match ${options.ifMatch}`);
      }
      if (!current || current.deleted) return { existed: false };
      const versionId = current.version_id + 1;
      const row = {
        resource_type: resourceType,
        id,
        version_id: versionId,
        last_updated: repo.deps.clock.now(),
        deleted: true,
        content: null,
      };
      await repo.exec('resource').where({ resource_type: resourceType, id }).update(row);
      await repo.exec('resource_version').insert({ ...row, method: 'DELETE' });
      await repo.clearIndexes(resourceType, id);
      for (const hook of repo.deps.hooks) {
        await hook.afterWrite({
          kind: 'delete',
          access,
          resourceType,
          id,
          versionId,
          references: [],
          executor: repo.exec,
          scope: repo.requireScope(),
        });
      }
      return { existed: true, versionId };
    });
  }

  async history(access: AccessContext, query: HistoryQuery): Promise<HistoryPage> {
    if (query.resourceType) this.assertRead(access, query.resourceType);
    else if (!this.deps.policy.canRead(access, '*'))
      throw new FhirError(403, { code: 'forbidden', message: 'Not allowed' });
    const base = this.exec<VersionRow>('resource_version');
    if (query.resourceType) void base.where('resource_type', query.resourceType);
    if (query.id) void base.where('id', query.id);
    if (query.since) void base.where('last_updated', '>=', query.since);
    const countRow = await base.clone().count<{ count: string | number }[]>('* as count').first();
    if (query.beforeSeq !== undefined) void base.where('seq', '<', query.beforeSeq);
    const rows = await base.orderBy('seq', 'desc').limit(query.count + 1);
    const entries = rows.slice(0, query.count).map(toHistoryEntry);
    const last = entries[entries.length - 1];
    return {
      entries,
      total: Number(countRow?.count ?? 0),
      nextBeforeSeq: rows.length > query.count && last ? last.seq : undefined,
    };
  }

  /** Raw bytes of a Binary version, streamed from the blob store. */
  async readBinaryContent(
    access: AccessContext,
    id: string,
    versionId: number,
  ): Promise<{ size: number; stream: Readable } | undefined> {
    this.assertRead(access, 'Binary');
    const row = (await this.exec('binary_blob').where({ id, version_id: versionId }).first()) as
      { blob_key: string; size: string | number } | undefined;
    if (!row) return undefined;
    return { size: Number(row.size), stream: await this.deps.blobs.get(row.blob_key) };
  }

  /** Re-inlines `data` into a stored Binary for FHIR JSON representations. */
  async inflateBinary(access: AccessContext, binary: Binary): Promise<Binary> {
    const content = await this.readBinaryContent(access, binary.id ?? '', Number(binary.meta?.versionId));
    if (!content) return binary;
    const chunks: Buffer[] = [];
    for await (const chunk of content.stream) chunks.push(chunk as Buffer);
    return { ...binary, data: Buffer.concat(chunks).toString('base64') };
  }

  private requireScope(): TxScope {
    if (!this.scope) throw new Error('Write outside a transaction');
    return this.scope;
  }

  private async storeBinary(id: string, versionId: number, data: Buffer): Promise<void> {
    const info = await this.deps.blobs.put(data);
    const blobs = this.deps.blobs;
    const exec = this.deps.db;
    this.requireScope().onRollback(async () => {
      const still: unknown = await exec('binary_blob').where({ blob_key: info.key }).first();
      if (!still) await blobs.delete(info.key);
    });
    await this.exec('binary_blob').insert({ id, version_id: versionId, blob_key: info.key, size: info.size });
  }

  private async clearIndexes(resourceType: string, id: string): Promise<void> {
    for (const table of INDEX_TABLES)
      await this.exec(table).where({ resource_type: resourceType, resource_id: id }).delete();
    await this.exec('resource_reference').where({ src_type: resourceType, src_id: id }).delete();
  }

  private async afterWrite(
    access: AccessContext,
    kind: 'create' | 'update',
    resource: Resource,
    versionId: number,
  ): Promise<void> {
    const id = resource.id ?? '';
    const references = collectLocalReferences(resource, this.deps.fhirBase);
    if (kind === 'update') await this.clearIndexes(resource.resourceType, id);
    if (references.length > 0) {
      await this.exec('resource_reference').insert(
        references.map((r) => ({
          src_type: resource.resourceType,
          src_id: id,
          target_type: r.targetType,
          target_id: r.targetId,
          path: r.path,
        })),
      );
    }
    for (const hook of this.deps.hooks) {
      await hook.afterWrite({
        kind,
        access,
        resourceType: resource.resourceType,
        id,
        versionId,
        resource,
        references,
        executor: this.exec,
        scope: this.requireScope(),
      });
    }
  }
}

/** Binary.data lives in the blob store, not in the resource row. */
function splitBinary<T extends Resource>(resource: T, raw?: Buffer): { body: T; binary?: Buffer } {
  if (resource.resourceType !== 'Binary') return { body: resource };
  const { data, ...rest } = resource;
  const binary = raw ?? (data !== undefined ? Buffer.from(data, 'base64') : undefined);
  return { body: rest as T, binary };
}

function withMeta<T extends Resource>(resource: T, versionId: number, lastUpdated: Date): T {
  const { resourceType, id, meta, ...rest } = resource;
  return {
    resourceType,
    id,
    meta: { ...meta, versionId: String(versionId), lastUpdated: lastUpdated.toISOString() },
    ...rest,
  } as T;
}

function serialize(resource: Resource): string {
  return JSON.stringify(resource);
}

/** Content equality ignoring server-managed meta, so a no-op PUT creates no version. */
function sameContent(storedJson: string, incoming: Resource): boolean {
  const stored = JSON.parse(storedJson) as Resource;
  return canonical(stripServerMeta(stored)) === canonical(stripServerMeta(incoming));
}

function stripServerMeta(r: Resource): Resource {
  const meta = { ...r.meta };
  delete meta.versionId;
  delete meta.lastUpdated;
  const copy = { ...r, meta } as Resource & { meta?: object };
  if (Object.keys(meta).length === 0) delete copy.meta;
  return copy;
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
