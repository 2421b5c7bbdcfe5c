#!/usr/bin/env node
// meterd — bench/peers/rate_peers.mjs: rating a month of hourly buckets in meterd, DuckDB and
// ClickHouse (chDB, in-process) side by side, in one run, on the same data and semantics.
//
//   node bench/peers/rate_peers.mjs [--vms 10000] [--seed 42] [--month 2026-11] [--runs 3]
//        [--threads 2] [--work-dir DIR] [--meter-bench PATH] [--engines duckdb,clickhouse]
//        [--reuse]
//
// 1. Runs `meter-bench rate --vms N --export-csv DIR --json` (meterd's own timing, from its
//    rollup files, warm, median), which also writes the month and its catalog as CSV.
//    --reuse skips this when DIR already holds that month, and reports the last run's meterd.json
//    (its times as they were) instead: for iterating on the SQL.
// 2. Loads the CSV into DuckDB (@duckdb/node-api; a table sorted by resource) and ClickHouse
//    (npm `chdb`; MergeTree ORDER BY resource), untimed.
// 3. Rates the month in each with SQL implementing docs/rating.md for this workload (below),
//    one warm-up run then the median of --runs, for all accounts and for one account.
// 4. Prints the three engines' times, rows/s, grand totals and ratios, and checks that every
//    grand total, account total and line count is identical (exit 2 if not).
//
// Dependencies are installed on first use into bench/peers/node_modules.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const CHDB_VERSION = '3.4.0';
const DUCKDB_VERSION = '1.5.6-r.1';

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = {
    vms: 10000,
    seed: 42,
    month: '2026-11',
    runs: 3,
    threads: 2,
    workDir: path.join(os.tmpdir(), 'rate-peers'),
    meterBench: '',
    engines: ['duckdb', 'clickhouse'],
    reuse: false,
  };
  for (let i = 2; i < argv.length; ++i) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--vms': o.vms = Number(next()); break;
      case '--seed': o.seed = Number(next()); break;
      case '--month': o.month = next(); break;
      case '--runs': o.runs = Number(next()); break;
      case '--threads': o.threads = Number(next()); break;
      case '--work-dir': o.workDir = path.resolve(next()); break;
      case '--meter-bench': o.meterBench = path.resolve(next()); break;
      case '--engines': o.engines = next().split(',').filter(Boolean); break;
      case '--reuse': o.reuse = true; break;
      case '-h': case '--help': usage(''); break;
      default: usage(`unknown option ${a}`);
    }
  }
  if (!(o.vms > 0 && o.runs > 0 && o.threads > 0)) usage('--vms, --runs and --threads must be positive');
  for (const e of o.engines) {
    if (e !== 'duckdb' && e !== 'clickhouse') usage(`unknown engine ${e}`);
  }
  return o;
}

function usage(msg) {
  if (msg) console.error(`rate_peers: ${msg}`);
  console.error('usage: node bench/peers/rate_peers.mjs [--vms N] [--seed S] [--month YYYY-MM] ' +
                '[--runs 3] [--threads 2] [--work-dir DIR] [--meter-bench PATH] ' +
                '[--engines duckdb,clickhouse] [--reuse]');
  process.exit(msg ? 1 : 0);
}

function findMeterBench() {
  const candidates = [path.join(REPO, 'build', 'bin', 'meter-bench')];
  for (const d of fs.readdirSync(REPO)) {
    if (d.startsWith('build-')) candidates.push(path.join(REPO, d, 'bin', 'meter-bench'));
  }
  const found = candidates.filter((p) => fs.existsSync(p));
  if (found.length === 0) {
    throw new Error('no meter-bench binary under build*/bin: build it (ninja -C build meter-bench) ' +
                    'or pass --meter-bench PATH');
  }
  found.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);  // the newest
  return found[0];
}

// ---------------------------------------------------------------------------------------------
// Dependencies

const requireHere = createRequire(path.join(HERE, 'package.json'));

function installed(name) {
  try {
    requireHere.resolve(name);
    return true;
  } catch {
    return false;
  }
}

function ensureDependencies() {
  if (installed('chdb') && installed('@duckdb/node-api')) return;
  console.error(`rate_peers: installing chdb ${CHDB_VERSION} and @duckdb/node-api ` +
                `${DUCKDB_VERSION} into ${path.join(HERE, 'node_modules')} ...`);
  const r = spawnSync('npm', ['install', '--prefix', HERE, '--no-audit', '--no-fund',
                              `chdb@${CHDB_VERSION}`, `@duckdb/node-api@${DUCKDB_VERSION}`],
                      { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`npm install failed (exit ${r.status})`);
}

// ---------------------------------------------------------------------------------------------
// The SQL. The semantics are those of docs/rating.md (§3, §4) and engine/pricebook/pricing.h
// for this workload's catalog (one attribute version per VM and one price book version for
// the month, rounding half-even, no allowances or minimums):
//   * a line is (account, resource, product id); its quantity is the exact integer sum of its
//     buckets' raw quantities (state seconds, gauge value x seconds, counter increase), summed
//     BEFORE any pricing and never through a float; lines whose quantity is 0 are not output;
//   * the product of a series follows from (metric, part, plan, location) as meterd resolves it
//     (prices.csv is written from the price book by meter-bench; vm.state has two parts, the
//     running seconds in `value` and the stopped seconds in `stopped_seconds`);
//   * per_unit: billed = min(quantity, cap_raw) when the product has a cap (672 h of running
//     seconds per VM per month), exact = billed x unit price (micro-credits x divisor, 128-bit);
//   * graduated (egress): the account's lines of the product in resource-id order (bytewise)
//     tile the account's month [0, total); a line covering [a, a + q) pays each tier's overlap
//     with it at the tier's price;
//   * the line's amount = exact / divisor rounded ONCE to whole micro-credits, half-even;
//   * output: every line, then one total per account.
// Every series has one attribute version for the month, so the buckets are summed per series
// first and the series then joined to its resource's account, plan and location. One
// account's month reads only that account's resources' buckets (a range of the sort key).

function ratingSql(dialect, account) {
  const ch = dialect === 'clickhouse';
  const i128 = (x) => (ch ? `toInt128(${x})` : `CAST(${x} AS HUGEINT)`);
  const idiv = (a, b) => (ch ? `intDiv(${a}, ${b})` : `(${a}) // (${b})`);
  const anyOf = ch ? 'any' : 'any_value';
  const scope = account
    ? `WHERE resource IN (SELECT resource FROM resources WHERE account = '${account}')`
    : '';
  const roundHalfEven = (n, d) => {
    const q = idiv(n, d);
    const r = `((${n}) % (${d}))`;
    return `${q} + CASE WHEN 2 * ${r} > ${d} OR (2 * ${r} = ${d} AND ${q} % 2 = 1) THEN 1 ELSE 0 END`;
  };
  const sql = `
WITH
  usage AS (
    SELECT resource, metric, sum(value) AS value, sum(stopped_seconds) AS stopped
    FROM buckets ${scope}
    GROUP BY resource, metric
  ),
  line_q AS (
    SELECT r.account AS account, u.resource AS resource, p.product AS product,
           sum(CASE WHEN p.part = 'stopped' THEN u.stopped ELSE u.value END) AS quantity
    FROM usage AS u
    INNER JOIN resources AS r ON r.resource = u.resource
    INNER JOIN prices AS p
      ON p.metric = ${ch ? 'u.metric' : 'CAST(u.metric AS VARCHAR)'} AND p.plan = r.plan AND p.location = r.location
    GROUP BY r.account, u.resource, p.product
    HAVING sum(CASE WHEN p.part = 'stopped' THEN u.stopped ELSE u.value END) > 0
  ),
  lines AS MATERIALIZED (
    SELECT l.account AS account, l.resource AS resource, l.product AS product,
           l.quantity AS quantity, p.model AS model, p.divisor AS divisor,
           p.unit_price_micro AS unit_price, p.cap_raw AS cap_raw
    FROM line_q AS l INNER JOIN products AS p ON p.product = l.product
  ),
  graduated AS (
    SELECT account, resource, product, quantity, divisor,
           sum(quantity) OVER (PARTITION BY account, product ORDER BY resource
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS acc_end
    FROM lines WHERE model = 'graduated'
  ),
  exact AS (
    SELECT account, resource, product, quantity, divisor,
           ${i128('CASE WHEN cap_raw > 0 AND quantity > cap_raw THEN cap_raw ELSE quantity END')}
             * unit_price AS exact
    FROM lines WHERE model = 'per_unit'
    UNION ALL
    SELECT g.account AS account, g.resource AS resource, g.product AS product,
           ${anyOf}(g.quantity) AS quantity, ${anyOf}(g.divisor) AS divisor,
           sum(${i128('greatest(least(g.acc_end, t.hi_raw) - greatest(g.acc_end - g.quantity, t.lo_raw), 0)')}
               * t.unit_price_micro) AS exact
    FROM graduated AS g INNER JOIN tiers AS t ON t.product = g.product
    GROUP BY g.account, g.resource, g.product
  ),
  priced AS MATERIALIZED (
    SELECT account, resource, product, quantity,
           ${ch ? 'toInt64' : 'CAST'}(${roundHalfEven('exact', 'divisor')}${ch ? '' : ' AS BIGINT'}) AS amount
    FROM exact
  )
SELECT account, resource, product, quantity, amount FROM (
  SELECT account, resource, product, quantity, amount FROM priced
  UNION ALL
  SELECT account, '' AS resource, '' AS product, 0 AS quantity, sum(amount) AS amount
  FROM priced GROUP BY account
) AS output
ORDER BY account, resource = '', resource, product`;
  // ClickHouse: compute each CTE referenced twice once; aggregate the MergeTree in its sort
  // order (resource); and no join runtime filters (every series has a resource, so a filter on
  // the 57.6 M-row scan only costs: ~40% more CPU measured here). What a ClickHouse user would
  // set for this query; DuckDB needs no settings (it materializes a CTE referenced twice).
  return ch
    ? `${sql}\nSETTINGS enable_materialized_cte = 1, optimize_aggregation_in_order = 1, ` +
      'enable_join_runtime_filters = 0'
    : sql;
}

// Sums the output rows: lines (resource != '') and account totals (resource == '').
function summarize(rows) {
  let lines = 0;
  let nonzero = 0;
  let total = 0n;
  let lineSum = 0n;
  const accounts = new Map();
  for (const [account, resource, , quantity, amount] of rows) {
    const a = BigInt(amount);
    if (resource === '') {
      accounts.set(account, a);
      total += a;
    } else {
      ++lines;
      if (BigInt(quantity) !== 0n) ++nonzero;
      lineSum += a;
    }
  }
  return { lines, nonzero, total, lineSum, accounts, outputLines: rows.length };
}

// ---------------------------------------------------------------------------------------------
// Timing

const now = () => Number(process.hrtime.bigint()) / 1e6;  // ms
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const cv = (v) => {
  if (v.length < 2) return 0;
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) * (b - m), 0) / (v.length - 1));
  return sd / m;
};

// Runs `query` (returning { ms, rows }) once to warm up, then `runs` times; checks every run
// gives the same answer.
async function timed(runs, query) {
  const warm = await query();
  const first = summarize(warm.rows);
  const times = [];
  const cpus = [];
  for (let i = 0; i < runs; ++i) {
    const r = await query();
    times.push(r.ms);
    cpus.push(r.cpuMs);
    const s = summarize(r.rows);
    if (s.total !== first.total || s.outputLines !== first.outputLines) {
      throw new Error('two runs of the same query gave different answers');
    }
  }
  return { ms: median(times), times, cv: cv(times), cpuMs: median(cpus), summary: first };
}

// ---------------------------------------------------------------------------------------------
// DuckDB

async function runDuckDb(o, csv, account) {
  const duckdb = requireHere('@duckdb/node-api');
  const dbPath = path.join(o.workDir, 'duckdb', 'rate.duckdb');
  fs.rmSync(path.dirname(dbPath), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dbPath), { recursive: true });
  const instance = await duckdb.DuckDBInstance.create(dbPath, { threads: String(o.threads) });
  const conn = await instance.connect();
  const f = (name) => `'${path.join(csv, name)}'`;
  const t0 = now();
  const metrics = ['vm.state', 'vm.vcpus', 'vm.memory_bytes', 'disk.size_bytes', 'net.rx_bytes',
                   'net.tx_bytes', 'disk.read_ops', 'disk.write_ops'].map((x) => `'${x}'`).join(', ');
  await conn.run(`
    CREATE TYPE metric_name AS ENUM (${metrics});
    CREATE TABLE resources AS SELECT * FROM read_csv(${f('resources.csv')}, header = true,
      columns = {'resource': 'VARCHAR', 'account': 'VARCHAR', 'domain': 'VARCHAR',
                 'project': 'VARCHAR', 'plan': 'VARCHAR', 'location': 'VARCHAR'});
    CREATE TABLE prices AS SELECT * FROM read_csv(${f('prices.csv')}, header = true,
      columns = {'metric': 'VARCHAR', 'part': 'VARCHAR', 'plan': 'VARCHAR', 'location': 'VARCHAR',
                 'product': 'VARCHAR', 'model': 'VARCHAR', 'divisor': 'BIGINT',
                 'unit_price_micro': 'BIGINT', 'cap_raw': 'BIGINT'});
    CREATE TABLE products AS
      SELECT DISTINCT product, model, divisor, unit_price_micro, cap_raw FROM prices;
    CREATE TABLE tiers AS SELECT * FROM read_csv(${f('tiers.csv')}, header = true,
      columns = {'product': 'VARCHAR', 'tier': 'INTEGER', 'lo_raw': 'BIGINT',
                 'hi_raw': 'BIGINT', 'unit_price_micro': 'BIGINT'});
    CREATE TABLE buckets AS
      SELECT resource, CAST(metric AS metric_name) AS metric, hour, value, stopped_seconds
      FROM read_csv(${f('buckets.csv')}, header = true,
        columns = {'resource': 'VARCHAR', 'metric': 'VARCHAR', 'hour': 'BIGINT',
                   'value': 'BIGINT', 'stopped_seconds': 'INTEGER'})
      ORDER BY resource, metric, hour;
    CHECKPOINT;`);
  const loadMs = now() - t0;
  const version = (await (await conn.run('SELECT version()')).getRowsJS())[0][0];
  const rows = Number((await (await conn.run('SELECT count(*) FROM buckets')).getRowsJS())[0][0]);
  const query = (sql) => async () => {
    const c = process.cpuUsage();
    const t = now();
    const result = await conn.run(sql);  // materialized in DuckDB; values read untimed
    const ms = now() - t;
    const cpu = process.cpuUsage(c);
    const out = await result.getRowsJS();
    return { ms, cpuMs: (cpu.user + cpu.system) / 1e3, rows: out };
  };
  const full = await timed(o.runs, query(ratingSql('duckdb', '')));
  const one = await timed(Math.max(o.runs, 5), query(ratingSql('duckdb', account)));
  const bytes = fs.statSync(dbPath).size;
  conn.closeSync();
  instance.closeSync();
  return { engine: `DuckDB ${version}`, short: 'duckdb', rows, loadMs, bytes, full, one };
}

// ---------------------------------------------------------------------------------------------
// ClickHouse (chDB)

async function runClickHouse(o, csv, account) {
  const chdb = requireHere('chdb');
  const dir = path.join(o.workDir, 'chdb');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const session = new chdb.Session(dir);
  const q = (sql, format = 'TabSeparated') => session.query(sql, format);
  const f = (name) => `'${path.join(csv, name)}'`;
  const settings = `SETTINGS max_threads = ${o.threads}`;
  const t0 = now();
  q(`CREATE TABLE resources (resource String, account String, domain String, project String,
       plan String, location String) ENGINE = MergeTree ORDER BY resource`);
  q(`INSERT INTO resources SELECT * FROM file(${f('resources.csv')}, 'CSVWithNames',
       'resource String, account String, domain String, project String, plan String, location String')`);
  q(`CREATE TABLE prices (metric String, part String, plan String, location String,
       product String, model String, divisor Int64, unit_price_micro Int64, cap_raw Int64)
       ENGINE = MergeTree ORDER BY (metric, plan, location, part)`);
  q(`INSERT INTO prices SELECT * FROM file(${f('prices.csv')}, 'CSVWithNames',
       'metric String, part String, plan String, location String, product String, model String,
        divisor Int64, unit_price_micro Int64, cap_raw Int64')`);
  q(`CREATE TABLE products ENGINE = MergeTree ORDER BY product AS
       SELECT DISTINCT product, model, divisor, unit_price_micro, cap_raw FROM prices`);
  q(`CREATE TABLE tiers (product String, tier Int32, lo_raw Int64, hi_raw Int64,
       unit_price_micro Int64) ENGINE = MergeTree ORDER BY (product, tier)`);
  q(`INSERT INTO tiers SELECT * FROM file(${f('tiers.csv')}, 'CSVWithNames',
       'product String, tier Int32, lo_raw Int64, hi_raw Int64, unit_price_micro Int64')`);
  q(`CREATE TABLE buckets (resource LowCardinality(String), metric LowCardinality(String),
       hour UInt32, value Int64, stopped_seconds Int32)
       ENGINE = MergeTree ORDER BY (resource, metric, hour)`);
  q(`INSERT INTO buckets SELECT * FROM file(${f('buckets.csv')}, 'CSVWithNames',
       'resource String, metric String, hour UInt32, value Int64, stopped_seconds Int32')
       SETTINGS max_threads = ${o.threads}, max_insert_threads = ${o.threads}`);
  q('OPTIMIZE TABLE buckets FINAL');
  const loadMs = now() - t0;
  const version = q('SELECT version()').trim();
  const rows = Number(q('SELECT count() FROM buckets').trim());
  const bytes = Number(q(`SELECT sum(bytes_on_disk) FROM system.parts
                          WHERE table = 'buckets' AND active`).trim());
  const query = (sql) => async () => {
    const c = process.cpuUsage();
    const t = now();
    const text = q(`${sql}, max_threads = ${o.threads}`);
    const ms = now() - t;
    const cpu = process.cpuUsage(c);
    const out = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const c = line.split('\t');
      out.push([c[0], c[1], c[2], c[3], c[4]]);
    }
    return { ms, cpuMs: (cpu.user + cpu.system) / 1e3, rows: out };
  };
  const full = await timed(o.runs, query(ratingSql('clickhouse', '')));
  const one = await timed(Math.max(o.runs, 5), query(ratingSql('clickhouse', account)));
  session.cleanup?.();
  return { engine: `ClickHouse ${version} (chDB ${CHDB_VERSION}, in-process)`, short: 'clickhouse',
           rows, loadMs, bytes, full, one };
}

// ---------------------------------------------------------------------------------------------
// meterd

function runMeterd(o, csv) {
  const metaPath = path.join(csv, 'meta.json');
  const jsonPath = path.join(csv, 'meterd.json');
  if (o.reuse && fs.existsSync(metaPath) && fs.existsSync(jsonPath)) {
    const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8'));
    const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
    if (meta.vms === o.vms && meta.seed === o.seed && j.month === o.month) {
      console.error(`rate_peers: reusing ${csv} and its meterd.json (--reuse)`);
      return j;
    }
  }
  const bin = o.meterBench || findMeterBench();
  const args = ['rate', '--vms', String(o.vms), '--seed', String(o.seed), '--month', o.month,
                '--runs', String(Math.max(o.runs, 5)), '--threads', String(o.threads),
                '--data-dir', path.join(o.workDir, 'meterd-data'), '--export-csv', csv, '--json'];
  console.error(`rate_peers: ${bin} ${args.join(' ')}`);
  const r = spawnSync(bin, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8',
                                   maxBuffer: 1 << 24 });
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('{"workload":"rate"'));
  if (!line) throw new Error(`meter-bench rate failed (exit ${r.status}) and printed no JSON line`);
  const j = JSON.parse(line);
  fs.writeFileSync(jsonPath, line + '\n');
  if (r.status !== 0 || !j.check) {
    throw new Error(`meter-bench rate did not pass its own check (exit ${r.status})`);
  }
  return j;
}

function readExpected(csv) {
  const meta = JSON.parse(fs.readFileSync(path.join(csv, 'meta.json'), 'utf8'));
  const accounts = new Map();
  const text = fs.readFileSync(path.join(csv, 'expected_accounts.csv'), 'utf8').trim().split('\n');
  for (const line of text.slice(1)) {
    const [account, amount] = line.split(',');
    accounts.set(account, BigInt(amount));
  }
  return { meta, accounts };
}

// ---------------------------------------------------------------------------------------------
// Report

const fmtMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(3));
const fmtRate = (rows, ms) => `${(rows / (ms / 1e3) / 1e6).toFixed(1)} M`;

function compare(name, s, meterdTotal, expected, meterdLines) {
  const problems = [];
  if (s.total !== meterdTotal) {
    problems.push(`${name}: grand total ${s.total} differs from meterd's ${meterdTotal} by ` +
                  `${s.total - meterdTotal} micro-credits`);
  }
  if (s.lineSum !== s.total) problems.push(`${name}: its lines add up to ${s.lineSum}, not ${s.total}`);
  let diffs = 0;
  for (const [account, amount] of expected.accounts) {
    const got = s.accounts.get(account);
    if (got !== amount) {
      if (diffs < 5) {
        problems.push(`${name}: account ${account}: ${got ?? 'missing'} micro-credits, ` +
                      `meterd ${amount}`);
      }
      ++diffs;
    }
  }
  if (diffs > 5) problems.push(`${name}: ... ${diffs} accounts differ in all`);
  if (s.outputLines !== meterdLines) {
    problems.push(`${name}: ${s.outputLines} output lines, meterd ${meterdLines}`);
  }
  return problems;
}

async function main() {
  const o = parseArgs(process.argv);
  ensureDependencies();
  fs.mkdirSync(o.workDir, { recursive: true });
  const csv = path.join(o.workDir, 'csv');

  const m = runMeterd(o, csv);
  const expected = readExpected(csv);
  const meterdTotal = BigInt(m.grand_total_micro);
  const account = m.account;
  // The lines with a nonzero quantity and the account totals (docs/rating.md §6); meterd also
  // returns a line for a product with hours but no quantity (0 micro-credits), not counted here.
  const meterdLines = m.nonzero_lines + m.account_totals;
  const expectedAccount = expected.accounts.get(account);
  if (BigInt(expected.meta.expected_total) !== meterdTotal) {
    throw new Error('meta.json and meterd.json disagree: a stale --reuse?');
  }

  const results = [];
  const failures = [];
  for (const e of o.engines) {
    console.error(`rate_peers: loading ${path.join(csv, 'buckets.csv')} into ${e} and rating ...`);
    try {
      const r = e === 'duckdb' ? await runDuckDb(o, csv, account) : await runClickHouse(o, csv, account);
      if (r.rows !== m.rows) throw new Error(`${e} loaded ${r.rows} rows, meterd rated ${m.rows}`);
      r.problems = compare(r.engine, r.full.summary, meterdTotal, expected, meterdLines);
      if (r.one.summary.total !== expectedAccount) {
        r.problems.push(`${r.engine}: one account (${account}): ${r.one.summary.total}, ` +
                        `meterd ${expectedAccount}`);
      }
      results.push(r);
    } catch (err) {
      failures.push({ engine: e, error: String(err && err.stack ? err.stack : err) });
      console.error(`rate_peers: ${e} FAILED: ${err && err.stack ? err.stack : err}`);
    }
  }

  // The table.
  const out = [];
  out.push('');
  out.push(`Rating one month (${m.rows.toLocaleString('en-US')} hourly bucket rows: ${m.vms} VMs x 8 ` +
           `metrics, ${m.accounts} accounts, ${o.month}), warm, median; ${o.threads} threads each`);
  out.push('');
  const head = ['engine', 'all accounts', 'rows/s', 'runs (ms)', 'CPU', 'one account',
                'grand total (µcr)', 'output lines'];
  const table = [head];
  table.push(['meterd (rollup files)', `${fmtMs(m.full_month_ms)} ms`, fmtRate(m.rows, m.full_month_ms),
              m.full_month_runs_ms.map(fmtMs).join(' '), `${fmtMs(m.full_month_cpu_ms)} ms`,
              `${fmtMs(m.account_ms)} ms (p99 ${fmtMs(m.account_p99_ms)})`,
              String(m.grand_total_micro), String(meterdLines)]);
  for (const r of results) {
    table.push([r.engine, `${fmtMs(r.full.ms)} ms`, fmtRate(r.rows, r.full.ms),
                r.full.times.map(fmtMs).join(' '), `${fmtMs(r.full.cpuMs)} ms`, `${fmtMs(r.one.ms)} ms`,
                String(r.full.summary.total), String(r.full.summary.outputLines)]);
  }
  const widths = head.map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const [i, row] of table.entries()) {
    out.push('  ' + row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  '));
    if (i === 0) out.push('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
  }
  out.push('');
  for (const r of results) {
    out.push(`  ${r.engine}: ${(r.full.ms / m.full_month_ms).toFixed(2)}x meterd's full-month time ` +
             `(${(r.full.cpuMs / m.full_month_cpu_ms).toFixed(2)}x its CPU time), ` +
             `${(r.one.ms / m.account_ms).toFixed(1)}x its one-account time; loaded in ` +
             `${(r.loadMs / 1e3).toFixed(1)} s, ${(r.bytes / 2 ** 20).toFixed(0)} MiB on disk` +
             (r.full.cv > 0.05 ? `; NOISY (CV ${(100 * r.full.cv).toFixed(0)}%)` : ''));
  }
  out.push(`  meterd: rollup files ${(m.rollup_bytes / 2 ** 20).toFixed(0)} MiB; plan ${fmtMs(m.plan_ms)} ms, ` +
           `scan ${fmtMs(m.scan_ms)} ms, price ${fmtMs(m.price_ms)} ms` +
           (m.full_month_cv > 0.05 ? `; NOISY (CV ${(100 * m.full_month_cv).toFixed(0)}%)` : ''));
  let fastest = null;
  for (const r of results) if (!fastest || r.full.ms < fastest.full.ms) fastest = r;
  if (fastest) {
    out.push(`  meterd vs the faster peer (${fastest.short}): ${(fastest.full.ms / m.full_month_ms).toFixed(2)}x ` +
             `(the target is >= 3x)`);
  }
  const problems = results.flatMap((r) => r.problems);
  out.push('');
  if (problems.length === 0 && results.length > 0) {
    out.push(`  check: OK — every engine's grand total is ${meterdTotal} micro-credits, every account ` +
             `total and the ${meterdLines} output lines identical` +
             (m.output_lines > meterdLines
               ? ` (meterd also lists ${m.output_lines - meterdLines} lines of quantity 0)` : ''));
  } else {
    for (const p of problems) out.push(`  check: MISMATCH — ${p}`);
  }
  for (const f of failures) out.push(`  ${f.engine}: could not run: ${f.error.split('\n')[0]}`);
  console.log(out.join('\n'));
  console.log(JSON.stringify({
    workload: 'rate_peers', vms: m.vms, rows: m.rows, month: o.month, threads: o.threads,
    meterd: { full_month_ms: m.full_month_ms, full_month_cpu_ms: m.full_month_cpu_ms, rows_per_s: m.rows_per_s, account_ms: m.account_ms,
              account_p99_ms: m.account_p99_ms, grand_total_micro: m.grand_total_micro,
              output_lines: meterdLines, zero_quantity_lines: m.output_lines - meterdLines },
    peers: Object.fromEntries(results.map((r) => [r.short, {
      engine: r.engine, full_month_ms: r.full.ms, full_month_runs_ms: r.full.times,
      full_month_cpu_ms: r.full.cpuMs,
      rows_per_s: Math.round(r.rows / (r.full.ms / 1e3)), account_ms: r.one.ms,
      grand_total_micro: String(r.full.summary.total), output_lines: r.full.summary.outputLines,
      ratio_to_meterd: r.full.ms / m.full_month_ms, load_s: r.loadMs / 1e3, bytes: r.bytes }])),
    failed: failures.map((f) => f.engine),
    totals_match: problems.length === 0 && results.length > 0,
  }));
  if (problems.length > 0) process.exit(2);
  if (failures.length > 0) process.exit(3);
}

main().catch((err) => {
  console.error(`rate_peers: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
