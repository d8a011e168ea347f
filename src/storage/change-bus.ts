import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Config } from '../config';
import type { Logger } from '../shared';
import type { Database } from './database';
import { isEmbedded } from './database';

/**
 * Tells every API process that something cached went stale (a token revoked, a user disabled,
 * a role changed). Subscribers drop what they cached; over-telling is harmless, missing a message
 * is not, so while PostgreSQL's listener connection is down every subscriber is told `reset`
 * and `healthy` is false until it is back (a cache must not serve then).
 */
export interface ChangeBus {
  /** Announces a change, to call after the change has committed. */
  publish(topic: string, payload: string): Promise<void>;
  /** Calls fn for each change of topic, and with `reset` when changes may have been missed. */
  subscribe(topic: string, fn: (payload: string | typeof RESET) => void): () => void;
  readonly healthy: boolean;
  close(): Promise<void>;
}

export const RESET = Symbol('reset');

const EVENT = 'change';

/**
 * In one process (embedded PGlite) changes are announced in memory; on PostgreSQL through
 * LISTEN/NOTIFY on a channel per schema, so servers sharing a database do not hear each other.
 */
export async function openChangeBus(config: Config, db: Database, logger: Logger): Promise<ChangeBus> {
  const local = new LocalBus();
  if (isEmbedded(config) || !config.databaseUrl) return local;
  const channel = `fhir_changes_${config.databaseSchema ?? 'public'}`;
  const bus = new PostgresBus(config.databaseUrl, channel, db, local, logger);
  await bus.connect();
  return bus;
}

class LocalBus implements ChangeBus {
  readonly emitter = new EventEmitter().setMaxListeners(0);
  healthy = true;

  publish(topic: string, payload: string): Promise<void> {
    this.emit(topic, payload);
    return Promise.resolve();
  }

  emit(topic: string, payload: string | typeof RESET): void {
    this.emitter.emit(EVENT, topic, payload);
  }

  subscribe(topic: string, fn: (payload: string | typeof RESET) => void): () => void {
    const listener = (t: string, payload: string | typeof RESET): void => {
      if (t === topic || payload === RESET) fn(payload);
    };
    this.emitter.on(EVENT, listener);
    return () => this.emitter.off(EVENT, listener);
  }

  close(): Promise<void> {
    this.emitter.removeAllListeners();
    return Promise.resolve();
  }
}

class PostgresBus implements ChangeBus {
  private listener: pg.Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly db: Database,
    private readonly local: LocalBus,
    private readonly logger: Logger,
  ) {}

  get healthy(): boolean {
    return this.listener !== undefined;
  }

  async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    const lost = (): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.local.emit('', RESET);
      client.end().catch(() => undefined);
      if (!this.closed) {
        this.logger.warn('change listener connection lost; reconnecting');
        this.retry = setTimeout(() => void this.reconnect(), 1000);
      }
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (msg) => {
      const text = msg.payload ?? '';
      const nl = text.indexOf('\n');
      if (nl > 0) this.local.emit(text.slice(0, nl), text.slice(nl + 1));
    });
    await client.connect();
    await client.query(`LISTEN ${this.channel}`);
    this.listener = client;
    // Whatever happened while no one listened is unknown: caches start over.
    this.local.emit('', RESET);
  }

  private async reconnect(): Promise<void> {
    try {
      await this.connect();
    } catch {
      if (!this.closed) this.retry = setTimeout(() => void this.reconnect(), 1000);
    }
  }

  async publish(topic: string, payload: string): Promise<void> {
    // This process hears it at once; the others when PostgreSQL delivers the notification.
    this.local.emit(topic, payload);
    await this.db.raw('SELECT pg_notify(?, ?)', [this.channel, `${topic}\n${payload}`]);
  }

  subscribe(topic: string, fn: (payload: string | typeof RESET) => void): () => void {
    return this.local.subscribe(topic, fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
    await this.local.close();
  }
}
