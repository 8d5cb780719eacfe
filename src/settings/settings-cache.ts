import type { Logger } from 'pino';
import type { Db } from '../db/index.ts';
import { effectiveInstanceSettings, type InstanceSettingsDocument } from './instance-settings.ts';

/** Every process applies a saved change within this long (control-plane spec §12, acceptance 46). */
export const SETTINGS_REFRESH_MS = 60_000;

/**
 * The instance settings this process applies, re-read in the background at most once a minute so
 * that readers on the hot path never wait for PostgreSQL: `current` is always answered from memory
 * (the defaults until the first read completes, the last good read if a later one fails).
 */
export class InstanceSettingsCache {
  #db: Db;
  #log: Logger;
  #now: () => number;
  #current: InstanceSettingsDocument | null = null;
  #readAt = 0;
  #reading: Promise<void> | null = null;
  #defaults: InstanceSettingsDocument;

  constructor(db: Db, log: Logger, defaults: InstanceSettingsDocument, now: () => number = Date.now) {
    this.#db = db;
    this.#log = log;
    this.#defaults = defaults;
    this.#now = now;
  }

  /** The settings as last read; starts a background re-read when they are older than a minute. */
  get current(): InstanceSettingsDocument {
    if (this.#now() - this.#readAt >= SETTINGS_REFRESH_MS) void this.refresh();
    return this.#current ?? this.#defaults;
  }

  /** Reads the settings now (start-up, and after this process saved them). */
  refresh(): Promise<void> {
    this.#reading ??= effectiveInstanceSettings(this.#db)
      .then((settings) => {
        this.#current = settings;
        this.#readAt = this.#now();
      })
      .catch((error: unknown) => {
        // Keep serving the last good settings; try again on the next read after a short pause.
        this.#readAt = this.#now() - SETTINGS_REFRESH_MS + 5_000;
        this.#log.warn({ err: error }, 'instance settings could not be read; keeping the last ones');
      })
      .finally(() => {
        this.#reading = null;
      });
    return this.#reading;
  }
}
