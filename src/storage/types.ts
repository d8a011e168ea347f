import type { Resource } from '@medplum/fhirtypes';
import type { AccessContext } from '../shared';
import type { Executor } from './database';
import type { LocalReference } from './references';
import type { TxScope } from './scope';

export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: Date;
  deleted: boolean;
  /** The resource JSON exactly as stored (null for a delete marker). */
  content: string | null;
}

export interface WriteEvent {
  kind: 'create' | 'update' | 'delete';
  access: AccessContext;
  resourceType: string;
  id: string;
  versionId: number;
  /** The stored resource (absent for deletes). */
  resource?: Resource;
  /**
   * For updates: the version this one replaces, whose derived rows are still stored. A hook
   * passes the rows it derived from it to queueRows, so only changed rows are written.
   */
  previous?: Resource;
  references: LocalReference[];
  /** References of `previous`; those still present were checked when they were written. */
  previousReferences?: LocalReference[];
  executor: Executor;
  scope: TxScope;
  /**
   * Queues rows derived from this version (search index) for batched insertion before the
   * transaction's next read or commit; a later write of the same resource in the transaction
   * replaces them.
   */
  queueRows(
    table: string,
    rows: Record<string, unknown>[],
    previousRows?: Record<string, unknown>[],
  ): Promise<void>;
}

/**
 * Layers that must see every write inside its transaction (search indexing, referential
 * integrity, later subscriptions and pipeline triggers) plug in here, so the repository
 * itself only stores.
 */
export interface WriteHook {
  afterWrite(event: WriteEvent): Promise<void>;
}

export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  since?: Date;
  count: number;
  /** Keyset cursor: only versions with seq below this. */
  beforeSeq?: number;
}

export interface HistoryEntry extends StoredVersion {
  seq: number;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
}

export interface HistoryPage {
  entries: HistoryEntry[];
  total: number;
  nextBeforeSeq?: number;
}

export type WriteMethod = HistoryEntry['method'];
