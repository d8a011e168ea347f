import type { HistoryEntry, StoredVersion, WriteMethod } from './types';

export interface ResourceRow {
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: Date | string;
  deleted: boolean;
  content: string | null;
}

export interface VersionRow extends ResourceRow {
  seq: number | string;
  method: string;
}

export function toStored(row: ResourceRow): StoredVersion {
  return {
    resourceType: row.resource_type,
    id: row.id,
    versionId: row.version_id,
    lastUpdated: row.last_updated instanceof Date ? row.last_updated : new Date(row.last_updated),
    deleted: row.deleted,
    content: row.content,
  };
}

export function toHistoryEntry(row: VersionRow): HistoryEntry {
  return { ...toStored(row), seq: Number(row.seq), method: row.method as WriteMethod };
}
