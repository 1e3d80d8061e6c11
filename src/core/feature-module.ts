import type { AuditTrail } from './audit/audit.service';
import type { AuthService } from './auth/auth.service';
import type { OperatorRepository } from './auth/operator.repository';
import type { SessionStore } from './auth/session.store';
import type { ReaderMonitor } from './card/reader-monitor.service';
import type { CardReaderService } from './card/reader.types';
import type { IssuerRepositories } from './db/repositories';
import type { DualControlService } from './dual-control/dual-control.service';
import type { KeystoreHolder } from './keystore/keystore-holder.service';
import type { CardSeriesStore } from './keystore/card-series.repository';
import type { Logger } from './log';
import type { PolicyVersionStore } from './policy/policy.repository';
import type { PolicySource } from './policy/policy.service';
import type { EventBus } from './rpc/event-bus';
import type { WorkstationOptions } from './workstation';

/**
 * What every feature builds on: the platform services the composition root makes once
 * (workstation.ts). A feature module takes this and nothing else.
 */
export interface Core {
  readonly opts: WorkstationOptions;
  /** The issuer's data on the engine this desk runs on (db/repositories.ts). */
  readonly repos: IssuerRepositories;
  readonly log: Logger;
  readonly events: EventBus;
  readonly audit: AuditTrail;
  /** The policies in force; `refresh` (PostgreSQL) re-reads them, the router awaits it before each call. */
  readonly policies: PolicySource;
  readonly sessions: SessionStore;
  /** The operators table (either engine): auth, admin and the router's per-call check read it. */
  readonly operators: OperatorRepository;
  /** Saved policy versions for the policy editor (either engine). */
  readonly policyVersions: PolicyVersionStore;
  readonly auth: AuthService;
  readonly dualControl: DualControlService;
  readonly cardSeries: CardSeriesStore;
  /** Locked at start; a security officer opens it on the Keys page. */
  readonly keystore: KeystoreHolder;
  /** The card readers (null without a reader service); started after every module is built. */
  readonly readers: CardReaderService | null;
  readonly monitor: ReaderMonitor | null;
}

/**
 * One feature of the workstation as the composition root sees it: the contract handlers it
 * serves, what it starts once every module is built, and what it closes. Building a module only
 * constructs objects; timers, listeners and readers start in `start`, so that a start that fails
 * part-way has nothing running to leak.
 */
export interface FeatureModule<H extends object> {
  readonly handlers: H;
  /** Starts timers or listeners; returns what stops them. */
  readonly start?: () => (() => void | Promise<void>) | void;
  readonly close?: () => void | Promise<void>;
}

/**
 * Undo steps, run newest first, each awaited before the next, so the database closes only after
 * what writes to it has stopped. A step that fails is logged and the rest still run. Steps that
 * are synchronous run within the call itself: a failed start, which has registered only those
 * (lock, database), has freed the data directory by the time it rethrows.
 */
export class Closers {
  private readonly steps: { name: string; run: () => unknown }[] = [];

  constructor(private readonly onError: (name: string, err: unknown) => void) {}

  add(name: string, run: () => unknown): void {
    this.steps.push({ name, run });
  }

  async closeAll(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        const r = step.run();
        if (r instanceof Promise) await r;
      } catch (err) {
        this.onError(step.name, err);
      }
    }
  }
}
