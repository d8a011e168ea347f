import type { Knex } from 'knex';
import type { Database } from './database';
import { MIGRATION_LOCK, withAdvisoryLock } from './database';

interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
}

/** PGlite's extended protocol takes one statement per query, so scripts are split here. */
async function runScript(db: Knex, sql: string): Promise<void> {
  for (const stmt of sql.split(';').map((s) => s.trim())) {
    if (stmt) await db.raw(stmt);
  }
}

/**
 * Search index tables follow HAPI's generic layout (one table per parameter type, rows keyed by
 * resource and parameter code) so every R4 SearchParameter, and later custom ones, are searchable
 * without DDL per resource type.
 */
const MIGRATIONS: Migration[] = [
  {
    name: '001_resources',
    async up(db) {
      await runScript(
        db,
        `
        CREATE TABLE resource (
          resource_type text NOT NULL,
          id text NOT NULL,
          version_id integer NOT NULL,
          last_updated timestamptz NOT NULL,
          deleted boolean NOT NULL DEFAULT false,
          content text,
          PRIMARY KEY (resource_type, id)
        );
        CREATE INDEX resource_type_updated ON resource (resource_type, last_updated, id);
        CREATE TABLE resource_version (
          seq bigserial NOT NULL UNIQUE,
          resource_type text NOT NULL,
          id text NOT NULL,
          version_id integer NOT NULL,
          last_updated timestamptz NOT NULL,
          deleted boolean NOT NULL DEFAULT false,
          method text NOT NULL,
          content text,
          PRIMARY KEY (resource_type, id, version_id)
        );
        CREATE INDEX resource_version_type_seq ON resource_version (resource_type, seq);
        CREATE INDEX resource_version_updated ON resource_version (last_updated);
        CREATE TABLE resource_reference (
          src_type text NOT NULL,
          src_id text NOT NULL,
          target_type text NOT NULL,
          target_id text NOT NULL,
          path text NOT NULL
        );
        CREATE INDEX resource_reference_src ON resource_reference (src_type, src_id);
        CREATE INDEX resource_reference_target ON resource_reference (target_type, target_id);
        CREATE TABLE binary_blob (
          id text NOT NULL,
          version_id integer NOT NULL,
          blob_key text NOT NULL,
          size bigint NOT NULL,
          PRIMARY KEY (id, version_id)
        );
        CREATE INDEX binary_blob_key ON binary_blob (blob_key);
      `,
      );
    },
  },
  {
    name: '002_search_index',
    async up(db) {
      await runScript(
        db,
        `
        CREATE TABLE sp_token (
          resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
          system text, value text, display text
        );
        CREATE INDEX sp_token_value ON sp_token (resource_type, code, value, system);
        CREATE INDEX sp_token_res ON sp_token (resource_type, resource_id);
        CREATE TABLE sp_string (
          resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
          value text NOT NULL, exact text NOT NULL
        );
        CREATE INDEX sp_string_value ON sp_string (resource_type, code, value text_pattern_ops);
        CREATE INDEX sp_string_res ON sp_string (resource_type, resource_id);
        CREATE TABLE sp_date (
          resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
          low timestamptz NOT NULL, high timestamptz NOT NULL
        );
        CREATE INDEX sp_date_value ON sp_date (resource_type, code, low, high);
        CREATE INDEX sp_date_res ON sp_date (resource_type, resource_id);
        CREATE TABLE sp_number (
          resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL, value numeric NOT NULL
        );
        CREATE INDEX sp_number_value ON sp_number (resource_type, code, value);
        CREATE INDEX sp_number_res ON sp_number (resource_type, resource_id);
        CREATE TABLE sp_quantity (
          resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
          value numeric NOT NULL, system text, unit_code text, unit text
        );
        CREATE INDEX sp_quantity_value ON sp_quantity (resource_type, code, value);
        CREATE INDEX sp_quantity_res ON sp_quantity (resource_type, resource_id);
        CREATE TABLE sp_reference (
          resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL,
          target_type text, target_id text, url text
        );
        CREATE INDEX sp_reference_value ON sp_reference (resource_type, code, target_id, target_type);
        CREATE INDEX sp_reference_url ON sp_reference (resource_type, code, url);
        CREATE INDEX sp_reference_res ON sp_reference (resource_type, resource_id);
        CREATE TABLE sp_uri (
          resource_type text NOT NULL, resource_id text NOT NULL, code text NOT NULL, value text NOT NULL
        );
        CREATE INDEX sp_uri_value ON sp_uri (resource_type, code, value);
        CREATE INDEX sp_uri_res ON sp_uri (resource_type, resource_id);
      `,
      );
    },
  },
  {
    name: '003_dicom',
    async up(db) {
      // Matching attributes are columns (QIDO-RS filters on them); everything else is DICOM JSON.
      await runScript(
        db,
        `
        CREATE TABLE dicom_study (
          study_uid text PRIMARY KEY,
          patient_id text, patient_name text, patient_name_words text,
          patient_birth_date text, patient_sex text,
          study_date text, study_time text, accession_number text, study_id text,
          referring_physician_name text, study_description text,
          attrs text NOT NULL,
          imaging_study_id text NOT NULL,
          updated_at timestamptz NOT NULL
        );
        CREATE INDEX dicom_study_patient_id ON dicom_study (patient_id);
        CREATE INDEX dicom_study_date ON dicom_study (study_date, study_uid);
        CREATE INDEX dicom_study_accession ON dicom_study (accession_number);
        CREATE INDEX dicom_study_name ON dicom_study (patient_name text_pattern_ops);
        CREATE TABLE dicom_series (
          series_uid text PRIMARY KEY,
          study_uid text NOT NULL,
          modality text, series_number integer, series_description text,
          performed_start_date text, performed_start_time text,
          attrs text NOT NULL
        );
        CREATE INDEX dicom_series_study ON dicom_series (study_uid, series_number);
        CREATE INDEX dicom_series_modality ON dicom_series (modality, study_uid);
        CREATE TABLE dicom_instance (
          sop_uid text PRIMARY KEY,
          series_uid text NOT NULL,
          study_uid text NOT NULL,
          sop_class_uid text NOT NULL,
          instance_number integer,
          transfer_syntax text NOT NULL,
          blob_key text NOT NULL,
          size bigint NOT NULL,
          metadata text NOT NULL,
          pixel text,
          bulk text NOT NULL,
          stored_at timestamptz NOT NULL
        );
        CREATE INDEX dicom_instance_series ON dicom_instance (series_uid, instance_number);
        CREATE INDEX dicom_instance_study ON dicom_instance (study_uid);
        CREATE INDEX dicom_instance_blob ON dicom_instance (blob_key);
        CREATE INDEX dicom_instance_class ON dicom_instance (sop_class_uid)
      `,
      );
    },
  },
  {
    name: '004_dicom_patient_ref',
    async up(db) {
      // The Patient a study links to and the key it was found by, so a later instance of the
      // same study does not search for the Patient again.
      await runScript(
        db,
        `ALTER TABLE dicom_study ADD COLUMN patient_ref text;
         ALTER TABLE dicom_study ADD COLUMN patient_ref_key text`,
      );
    },
  },
  {
    name: '005_dicom_import',
    async up(db) {
      // Pull jobs from DICOMweb peers; a job left running by a stopped node is picked up again.
      await runScript(
        db,
        `CREATE TABLE dicom_import (
           id text PRIMARY KEY,
           status text NOT NULL,
           request text NOT NULL,
           result text,
           created_at timestamptz NOT NULL,
           updated_at timestamptz NOT NULL
         );
         CREATE INDEX dicom_import_status ON dicom_import (status, updated_at)`,
      );
    },
  },
  {
    name: '006_auth',
    async up(db) {
      // The authorization server's state (oidc-provider models: clients, grants, codes, tokens,
      // sessions, interactions, client assertion ids) keyed by model and a SHA-256 of the id, so the
      // table holds no usable bearer value; and the local users.
      await runScript(
        db,
        `CREATE TABLE auth_oidc (
           model text NOT NULL,
           id text NOT NULL,
           payload text NOT NULL,
           grant_id text,
           uid text,
           user_code text,
           account_id text,
           consumed_at timestamptz,
           expires_at timestamptz,
           PRIMARY KEY (model, id)
         );
         CREATE INDEX auth_oidc_grant ON auth_oidc (grant_id) WHERE grant_id IS NOT NULL;
         CREATE INDEX auth_oidc_uid ON auth_oidc (model, uid) WHERE uid IS NOT NULL;
         CREATE INDEX auth_oidc_user_code ON auth_oidc (model, user_code) WHERE user_code IS NOT NULL;
         CREATE INDEX auth_oidc_account ON auth_oidc (account_id) WHERE account_id IS NOT NULL;
         CREATE INDEX auth_oidc_expires ON auth_oidc (expires_at);
         CREATE TABLE auth_user (
           username text PRIMARY KEY,
           password_hash text NOT NULL,
           fhir_user text,
           admin boolean NOT NULL DEFAULT false,
           disabled boolean NOT NULL DEFAULT false,
           failed_logins integer NOT NULL DEFAULT 0,
           locked_until timestamptz,
           created_at timestamptz NOT NULL,
           updated_at timestamptz NOT NULL
         )`,
      );
    },
  },
];

export const INDEX_TABLES = [
  'sp_token',
  'sp_string',
  'sp_date',
  'sp_number',
  'sp_quantity',
  'sp_reference',
  'sp_uri',
] as const;
export type IndexTable = (typeof INDEX_TABLES)[number];

class InCodeMigrationSource implements Knex.MigrationSource<Migration> {
  getMigrations(): Promise<Migration[]> {
    return Promise.resolve(MIGRATIONS);
  }
  getMigrationName(m: Migration): string {
    return m.name;
  }
  getMigration(m: Migration): Promise<Knex.Migration> {
    return Promise.resolve({ up: (db: Knex) => m.up(db), down: () => Promise.reject(new Error('No down')) });
  }
}

/**
 * Runs at every start. Several API processes may start at once against one PostgreSQL: knex's own
 * lock table cannot guard the creation of itself, so a session advisory lock, held on a connection
 * of its own, makes the processes migrate one after another.
 */
export async function migrate(db: Database): Promise<void> {
  await withAdvisoryLock(db, MIGRATION_LOCK, () =>
    db.migrate.latest({ migrationSource: new InCodeMigrationSource(), tableName: 'knex_migrations' }),
  );
}
