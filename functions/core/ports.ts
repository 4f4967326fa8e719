/**
 * What the domain needs from the outside world, with no AWS or Kubernetes types:
 * adapters/ implement these for S3, SQS and each executor.
 */
import type { BuildStatus, InspectionSummary } from './generated/types.js';
import type { Specification } from './specification.js';

export interface ListPage {
  keys: string[];
  /** Common prefixes when a delimiter was given. */
  prefixes: string[];
  nextToken?: string;
}

/** A body the store uploads from a local file: streamed, in parts when large, never held in memory. */
export interface FileBody {
  path: string;
  size: number;
}

export type ObjectBody = string | Buffer | FileBody;

/** An object as read, with the ETag a conditional write can name. */
export interface VersionedObject {
  body: Buffer;
  etag: string;
}

/** When a conditional write may happen: the key does not exist yet, or the object still has this ETag. */
export type WriteCondition = { absent: true } | { etag: string };

export interface ObjectStore {
  get(key: string): Promise<Buffer | undefined>;
  /** The object with its ETag, for a compare-and-swap with `putIf`. */
  read(key: string): Promise<VersionedObject | undefined>;
  /**
   * Writes only when `condition` holds at the moment of the write (S3's If-None-Match / If-Match):
   * of racing writers, exactly one succeeds. False when the condition did not hold.
   */
  putIf(key: string, body: string | Buffer, condition: WriteCondition, contentType?: string): Promise<boolean>;
  /** `tags` become S3 object tags (lifecycle rules match them). */
  put(key: string, body: ObjectBody, contentType?: string, tags?: Readonly<Record<string, string>>): Promise<void>;
  exists(key: string): Promise<boolean>;
  list(prefix: string, options?: { delimiter?: string; maxKeys?: number; token?: string; startAfter?: string }): Promise<ListPage>;
  delete(key: string): Promise<void>;
}

export interface MessageQueue {
  /** Sends one JSON message; `deduplicationId` lets a FIFO queue drop a repeat. */
  send(body: object, options?: { deduplicationId?: string; groupId?: string }): Promise<void>;
  /** Sends many, in as few requests as the queue allows (SQS: ten a request); without it, one `send` each. */
  sendAll?(messages: ReadonlyArray<{ body: object; deduplicationId?: string; groupId?: string }>): Promise<void>;
}

/** A sink that a long-running step writes its log into; the store sees it while the step runs. */
export interface LogSink {
  write(chunk: string | Buffer): void;
  /** Uploads what has been written so far. */
  flush(): Promise<void>;
}

/** One file of a build context, path relative to the context root. */
export interface ContextFile {
  path: string;
  content: string | Buffer;
  /** POSIX mode, 0o644 when absent. */
  mode?: number;
}

export type ExecutorKind = 'process' | 'container' | 'kubernetes';

export interface BuildRequest {
  inspectionId: string;
  spec: Specification;
  dockerfile: string;
  context: ContextFile[];
  /** sha256 of the Dockerfile and context: equal stacks have equal digests. */
  stackDigest: string;
  log: LogSink;
  signal?: AbortSignal;
}

export type FinishedBuild = Omit<BuildStatus, 'inspection_id' | 'executor'>;

/**
 * A cluster build that was started and will report by itself: its build step writes the build log
 * and status objects (the status triggers scheduling), and the reconciler writes them for a build
 * that dies first. The build stage then writes no status.
 */
export interface PendingBuild {
  state: 'pending';
  /** What was started, for the build stage's own log line. */
  message: string;
}

export type BuildOutcome = FinishedBuild | PendingBuild;

export interface RunRequest {
  inspectionId: string;
  item: number;
  spec: Specification;
  build: BuildStatus;
  /** The stored build context, read only by executors that run from it (and only when they must). */
  context: () => Promise<ContextFile[]>;
  deadlineSeconds: number;
  signal?: AbortSignal;
}

/**
 * What one run produced: the files the harness wrote. `result` is uploaded last, since it triggers
 * indexing. The log can be large (up to the output limit per stream): it stays a file until it is
 * uploaded, and `release` removes what the output keeps on disk once the pipeline is done with it.
 */
export interface RunOutput {
  result: Buffer;
  log: Buffer | FileBody;
  hwinfo?: Buffer;
  release?: () => Promise<void>;
}

/** What starting a cluster's runs came to: started (they report through the store), or refused with the reason every item gets. */
export type StartedRuns = { state: 'started' } | { state: 'refused'; message: string };

export interface StartRunsRequest extends Omit<RunRequest, 'item'> {
  /** The stack digest of the stored Dockerfile and context (not what a build pod reported). */
  stackDigest: string;
}

/**
 * Executors build and run; they return what happened and never write an inspection's objects
 * themselves (the pipeline records it, through InspectionRecords).
 */
export interface Executor {
  readonly kind: ExecutorKind;
  build(request: BuildRequest): Promise<BuildOutcome>;
  /** Local executors run one item at a time, driven by run messages. */
  runItem?(request: RunRequest): Promise<RunOutput>;
  /** Cluster executors start every item at once (an Indexed Job); the pods report through the store. */
  startRuns?(request: StartRunsRequest): Promise<StartedRuns>;
}

/** The live state of an inspection's cluster objects, as the status endpoint shows it. */
export type ClusterView = NonNullable<InspectionSummary['cluster']>;

/**
 * Where the status endpoint learns what a cluster is doing right now. Optional: without one, or
 * when the cluster is unreachable or its objects are gone, status answers from the store alone.
 */
export interface LiveStatusSource {
  /** undefined when the cluster has no objects of the inspection. May reject; callers ignore that. */
  observe(inspectionId: string): Promise<ClusterView | undefined>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
