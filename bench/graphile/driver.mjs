// The graphile-worker anchor of `just bench`, run by bench/peer-graphile-worker.sh
// (which creates the database and installs graphile-worker; see there).
//
// One row per run: `node driver.mjs` installs the schema with runMigrations(),
// forks WORKERS processes that each call run() with one no-op task, waits until
// each one LISTENs, queues JOBS jobs with a single graphile_worker.add_jobs()
// call in one transaction, and times from the return of its COMMIT until the
// jobs table is empty. Then it stops the workers and checks, from the job ids
// each one saw, that every job ran exactly once.
//
// Environment: GRAPHILE_MODULES (directory whose node_modules holds
// graphile-worker), BENCH_URL (scratch database), BENCH_ROW (batched |
// unbatched), BENCH_JOBS, BENCH_WORKERS, BENCH_CONCURRENCY, BENCH_DEADLINE_S.
// stdout: `graphile_<row>_<key>: value` lines; stderr: progress and errors.
// Exit: 0 ok, 2 could not start, 4 failed, timed out or ran a job twice/never.
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) fail(2, `${name} is not set`);
  return v;
};
const int = (name, fallback) => {
  const n = Number(env(name, fallback));
  if (!Number.isInteger(n) || n <= 0) fail(2, `${name} must be a positive integer`);
  return n;
};
function fail(code, message) {
  process.stderr.write(`[graphile-driver] error: ${message}\n`);
  process.exit(code);
}

// graphile-worker (and its pg) live in the bench cache, not beside this file.
const fromCache = createRequire(path.join(env('GRAPHILE_MODULES'), 'package.json'));
const gw = fromCache('graphile-worker');
const pg = createRequire(fromCache.resolve('graphile-worker'))('pg');

const cfg = {
  url: env('BENCH_URL'),
  row: env('BENCH_ROW'),
  jobs: int('BENCH_JOBS'),
  workers: int('BENCH_WORKERS', '2'),
  concurrency: int('BENCH_CONCURRENCY', '24'),
  deadlineS: int('BENCH_DEADLINE_S', '120'),
};
if (!['batched', 'unbatched'].includes(cfg.row)) fail(2, `BENCH_ROW must be batched or unbatched, not ${cfg.row}`);

// graphile-worker's info lines (one per job otherwise) are noise here; its
// warnings and errors are not. NO_LOG_SUCCESS also skips building the
// per-job success message, as upstream's perfTest does.
process.env.NO_LOG_SUCCESS = '1';
const logger = new gw.Logger((scope) => (level, message) => {
  if (level === 'error' || level === 'warning') {
    process.stderr.write(`[graphile ${level}${scope.workerId ? ' ' + scope.workerId : ''}] ${message}\n`);
  }
});

// The row's settings: the documented high-throughput configuration, or the
// batching options left at their defaults (off).
const workerPreset = cfg.row === 'batched'
  ? { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
  : {};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (process.argv[2] === 'worker') {
  await workerProcess();
} else {
  process.exitCode = await driver().catch((e) => {
    process.stderr.write(`[graphile-driver] error: ${e && e.stack ? e.stack : e}\n`);
    return 4;
  });
}

// --- a worker process: one run() with the no-op task ------------------------------
async function workerProcess() {
  // seen[n]: how many times job n ran here (saturating at 255).
  const seen = new Uint8Array(cfg.jobs + 1);
  let ran = 0;
  let sent = 0;
  process.on('disconnect', () => process.exit(3)); // the driver is gone: never linger
  const events = new EventEmitter();
  // Emitted just before the LISTEN query is sent on `client`; a query issued
  // on the same client after it is answered only once the LISTEN is done.
  events.once('pool:listen:success', ({ client }) => {
    setImmediate(() => client.query('SELECT 1').then(
      () => process.send({ t: 'ready' }),
      (e) => fail(2, `LISTEN connection: ${e.message}`),
    ));
  });
  let runner;
  try {
    runner = await gw.run({
      connectionString: cfg.url,
      concurrency: cfg.concurrency,
      maxPoolSize: cfg.concurrency + 1,
      noHandleSignals: true,
      logger,
      events,
      taskList: {
        noop: async (payload) => {
          const n = payload.n;
          if (seen[n] < 255) seen[n] += 1;
          ran += 1;
        },
      },
      preset: { worker: workerPreset },
    });
  } catch (e) {
    fail(2, `run(): ${e.message}`);
  }
  runner.promise.catch((e) => fail(4, `worker stopped with an error: ${e.message}`));
  // Progress for the driver, at most every 10 ms and only when it moved.
  const progress = setInterval(() => {
    if (ran !== sent) { sent = ran; process.send({ t: 'ran', n: ran }); }
  }, 10);
  process.on('message', async (m) => {
    if (m.t !== 'stop') return;
    clearInterval(progress);
    await runner.stop();
    process.send({ t: 'stopped', n: ran, seen }, () => process.exit(0));
  });
}

// --- the driver ---------------------------------------------------------------------
async function driver() {
  const { url, row, jobs, workers } = cfg;
  const children = [];
  const killAll = () => { for (const c of children) c.kill('SIGKILL'); };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));
  const deadline = setTimeout(() => fail(4, `row ${row} not done after ${cfg.deadlineS} s`), cfg.deadlineS * 1000);
  deadline.unref();

  await gw.runMigrations({ connectionString: url, logger });
  const db = new pg.Client({ connectionString: url });
  await db.connect();

  // Worker processes and what they report.
  let ready = 0;
  const ran = new Array(workers).fill(0);
  const final = new Array(workers).fill(null);
  let stopping = false;
  let wake = () => {};
  let failure = null;
  const self = fileURLToPath(import.meta.url);
  for (let i = 0; i < workers; i++) {
    const child = fork(self, ['worker'], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.on('message', (m) => {
      if (m.t === 'ready') ready += 1;
      else if (m.t === 'ran') ran[i] = m.n;
      else if (m.t === 'stopped') { ran[i] = m.n; final[i] = m.seen; }
      wake();
    });
    child.on('exit', (code) => {
      if (final[i] === null && !failure) failure = new Error(`worker process ${i} exited (code ${code}) ${stopping ? 'while stopping' : 'early'}`);
      wake();
    });
    children.push(child);
  }
  // Wait for a condition that worker messages change (no busy loop: the
  // driver shares the CPUs it measures).
  const until = async (cond) => {
    while (!cond()) {
      if (failure) throw failure;
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 100); });
    }
    if (failure) throw failure;
  };

  await until(() => ready === workers);
  await sleep(250); // each pool's first look for jobs (there are none yet) is over

  // All jobs in one add_jobs() call; they become visible (and the NOTIFY is
  // delivered) at COMMIT, when the clock starts.
  await db.query('BEGIN');
  const q0 = performance.now();
  await db.query(
    `SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
       SELECT json_populate_record(NULL::graphile_worker.job_spec,
                json_build_object('identifier', 'noop', 'payload', json_build_object('n', n)))
         FROM generate_series(1, $1::int) AS n))`, [jobs]);
  const q1 = performance.now();
  await db.query('COMMIT');
  const t0 = performance.now();

  // Every task has run once the reported counts add up; the clock stops when
  // the completions are committed too, i.e. the jobs table is empty.
  await until(() => ran.reduce((a, b) => a + b, 0) >= jobs);
  for (;;) {
    const { rows } = await db.query('SELECT NOT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS empty');
    if (rows[0].empty) break;
    await sleep(2);
  }
  const t1 = performance.now();

  stopping = true;
  for (const c of children) c.send({ t: 'stop' });
  await until(() => final.every((s) => s !== null));
  const left = Number((await db.query('SELECT count(*) FROM graphile_worker._private_jobs')).rows[0].count);
  await db.end();

  // Each job n in 1..jobs must have run exactly once, in exactly one process.
  let never = 0;
  let twice = 0;
  for (let n = 1; n <= jobs; n++) {
    let times = 0;
    for (const s of final) times += s[n];
    if (times === 0) never += 1;
    else if (times > 1) twice += 1;
  }
  const executed = ran.reduce((a, b) => a + b, 0);
  const secs = (t1 - t0) / 1000;
  const queueSecs = (q1 - q0) / 1000;
  process.stderr.write(`[graphile-driver] ${row}: ${jobs} jobs in ${secs.toFixed(3)} s `
    + `(${Math.round(jobs / secs)} jobs/s; queueing took ${queueSecs.toFixed(3)} s, not timed), `
    + `per process ${ran.join(' + ')}\n`);
  if (never || twice || left || executed !== jobs) {
    process.stderr.write(`[graphile-driver] error: check failed: ${never} jobs never ran, ${twice} ran more than once, `
      + `${executed} runs for ${jobs} jobs, ${left} left in the table\n`);
    return 4;
  }
  const p = `graphile_${row}_`;
  process.stdout.write([
    `${p}jobs_per_s: ${Math.round(jobs / secs)}`,
    `${p}seconds: ${secs.toFixed(3)}`,
    `${p}queue_jobs_per_s: ${Math.round(jobs / queueSecs)}`,
    `${p}ran_once: ${jobs}`,
  ].join('\n') + '\n');
  return 0;
}
