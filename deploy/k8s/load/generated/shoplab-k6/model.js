// The traffic model shared by every k6 script: the plan, id discovery, the two requests with
// their checks, thresholds, the stage series and the JSON summary. Every knob comes resolved in
// the plan the runner wrote (LOAD_PLAN: its JSON, or the path of a file holding it; see
// `python -m lab.load plan`): stages in iterations/s and whole seconds, SLO numbers, hot users,
// ratios, the shop's URL. Nothing is parsed or rounded here.
import http from 'k6/http';
import { check, fail } from 'k6';
import exec from 'k6/execution';
import { Gauge } from 'k6/metrics';

function loadPlan() {
  const raw = __ENV.LOAD_PLAN || '';
  if (raw === '') throw new Error('LOAD_PLAN is not set: run through `make load` or `python -m lab.load plan`');
  return JSON.parse(raw.trim().startsWith('{') ? raw : open(raw));
}

export const plan = loadPlan();
const resultsDir = plan.results_dir || __ENV.RESULTS_DIR || '';

// The stages in k6's terms, as the plan has them.
export function stages() {
  return plan.stages.map((s) => ({ duration: `${s.seconds}s`, target: s.rate }));
}

function thresholds() {
  const slo = plan.slo;
  const abort = plan.abort_on_fail;
  // Give the ramp its time before an abort can trigger (warm-up noise).
  const delay = `${plan.abort_delay_s}s`;
  const t = (expr) => (abort ? { threshold: expr, abortOnFail: true, delayAbortEval: delay } : expr);
  return {
    'http_req_duration{endpoint:orders}': [t(`p(95)<${slo.orders_p95_ms}`)],
    'http_req_duration{endpoint:popular}': [t(`p(95)<${slo.popular_p95_ms}`)],
    'http_req_failed{endpoint:orders}': [t(`rate<=${slo.error_rate}`)],
    'http_req_failed{endpoint:popular}': [t(`rate<=${slo.error_rate}`)],
    dropped_iterations: [`count<=${slo.dropped}`],
    checks: [`rate>=${1 - slo.error_rate}`],
  };
}

export function options(extra = {}) {
  const peak = Math.max(plan.start_rate, 1, ...plan.stages.map((s) => s.rate));
  return {
    discardResponseBodies: false,
    summaryTrendStats: ['count', 'avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
    thresholds: thresholds(),
    scenarios: {
      [plan.scenario]: {
        executor: 'ramping-arrival-rate',
        startRate: plan.start_rate,
        timeUnit: '1s',
        stages: stages(),
        // Enough VUs for the peak at 250 ms per request; beyond that k6 drops iterations
        // (counted, and a threshold) rather than slow its offered rate.
        preAllocatedVUs: Math.max(5, Math.ceil(peak * 0.25)),
        maxVUs: Math.max(20, Math.ceil(peak * 2)),
        gracefulStop: '10s',
      },
    },
    ...extra,
  };
}

// Ids come from the API: products 1..total, users 1..highest (found by bisection).
export function discover() {
  const products = http.get(`${plan.shop_url}/api/products?limit=1`, { tags: { endpoint: 'setup' } });
  if (products.status !== 200) fail(`GET /api/products answered ${products.status}: is the shop up at ${plan.shop_url}?`);
  const productCount = products.json('total');
  let lo = 1;
  let hi = 1;
  const probe = { tags: { endpoint: 'setup' }, responseCallback: http.expectedStatuses(200, 404) };
  const exists = (id) => http.get(`${plan.shop_url}/api/users/${id}/points`, probe).status === 200;
  if (!exists(1)) fail('user 1 does not exist: seed the shop first (flask --app shop seed)');
  while (exists(hi * 2) && hi < 1e9) hi *= 2;
  lo = hi;
  hi *= 2;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (exists(mid)) lo = mid;
    else hi = mid;
  }
  if (productCount < 1) fail('the shop has no products: seed it first');
  return { users: lo, products: productCount };
}

function randInt(n) {
  return 1 + Math.floor(Math.random() * n);
}

function uuid() {
  let out = '';
  for (let i = 0; i < 32; i++) out += Math.floor(Math.random() * 16).toString(16);
  return out;
}

// The run's TARGET_TPS as a series (k6_target_tps), so dashboards and alerts can compare.
const targetTps = new Gauge('target_tps');
// The 1-based index of the plan's stage running now (k6_loadtest_stage), for annotations:
// every iteration samples it, and the remote write sends its last value every second.
const loadtestStage = new Gauge('loadtest_stage');

function stageNow() {
  const t = (Date.now() - exec.scenario.startTime) / 1000; // setup() not counted
  const stage = plan.stages.find((s) => t < s.start_s + s.seconds);
  return stage ? stage.index : plan.stages[plan.stages.length - 1].index;
}

function mark() {
  targetTps.add(plan.target_tps);
  loadtestStage.add(stageNow());
}

export function order(ids) {
  mark();
  const hot = plan.hot_users > 0 && Math.random() < plan.hot_ratio;
  const userId = hot ? randInt(Math.min(plan.hot_users, ids.users)) : randInt(ids.users);
  const lines = 1 + Math.floor(Math.random() * Math.min(3, ids.products));
  const chosen = new Set();
  while (chosen.size < lines) chosen.add(randInt(ids.products));
  const items = [...chosen].map((id) => ({ product_id: id, quantity: 1 + Math.floor(Math.random() * 2) }));
  const key = uuid();
  const sent = Date.now();
  const res = http.post(`${plan.shop_url}/api/orders`, JSON.stringify({ user_id: userId, items }), {
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
    tags: { endpoint: 'orders', name: 'POST /api/orders', hot: hot ? 'yes' : 'no' },
  });
  // The order log the audit reconciles (lab/audit/reconcile.py): the runner sends console output
  // to <results>/orders.jsonl. Status 0: no answer came (timeout, connection refused).
  // t (epoch s when sent) and ms (until the answer, or until k6 gave up) time it for make chaos.
  console.log(JSON.stringify({
    endpoint: 'orders', key, user_id: userId, status: res.status,
    order_id: res.status === 201 ? res.json('order_id') : null, t: sent / 1000, ms: Date.now() - sent,
  }));
  check(res, {
    'order: 201': (r) => r.status === 201,
    'order: has order_id': (r) => r.status === 201 && r.json('order_id') > 0,
  }, { endpoint: 'orders' });
  return res;
}

export function popular() {
  mark();
  const sent = Date.now();
  const res = http.get(`${plan.shop_url}/api/products/popular?days=3&limit=5`, {
    tags: { endpoint: 'popular', name: 'GET /api/products/popular' },
  });
  // Timed in the same log as the orders (no key: the audit skips it).
  console.log(JSON.stringify({ endpoint: 'popular', status: res.status, t: sent / 1000, ms: Date.now() - sent }));
  check(res, {
    'popular: 200': (r) => r.status === 200,
    'popular: a list': (r) => r.status === 200 && Array.isArray(r.json()),
  }, { endpoint: 'popular' });
  return res;
}

export function mixed(ids) {
  return Math.random() < plan.order_ratio ? order(ids) : popular();
}

function metricValue(data, name, stat) {
  const m = data.metrics[name];
  return m && m.values[stat] !== undefined ? m.values[stat] : null;
}

// The JSON summary: the same shape as Locust's, so the runner reads both the same way.
export function summary(data, tool = 'k6') {
  const thresholdsOut = [];
  for (const [name, metric] of Object.entries(data.metrics)) {
    for (const [expr, result] of Object.entries(metric.thresholds || {})) {
      thresholdsOut.push({ name: `${name}: ${expr}`, pass: result.ok });
    }
  }
  const seconds = data.state.testRunDurationMs / 1000;
  const count = (tag) => metricValue(data, `http_req_duration{endpoint:${tag}}`, 'count') || 0;
  const failed = (tag) => (metricValue(data, `http_req_failed{endpoint:${tag}}`, 'rate') || 0) * count(tag);
  const requests = count('orders') + count('popular');
  const failures = Math.round(failed('orders') + failed('popular'));
  const endpoint = (tag) => ({
    count: metricValue(data, `http_req_duration{endpoint:${tag}}`, 'count'),
    p95_ms: metricValue(data, `http_req_duration{endpoint:${tag}}`, 'p(95)'),
    p99_ms: metricValue(data, `http_req_duration{endpoint:${tag}}`, 'p(99)'),
  });
  const out = {
    tool,
    scenario: plan.scenario,
    testid: plan.testid,
    target_tps: plan.target_tps,
    // Achieved: successful requests per second (failed ones are sent, not achieved).
    achieved_tps: seconds > 0 ? (requests - failures) / seconds : 0,
    duration_s: seconds,
    // handleSummary runs as the test ends: when it started, for the runner's time windows.
    started_at: Date.now() / 1000 - seconds,
    requests,
    failures,
    error_rate: requests > 0 ? failures / requests : 0,
    dropped_iterations: metricValue(data, 'dropped_iterations', 'count') || 0,
    endpoints: { 'POST /api/orders': endpoint('orders'), 'GET /api/products/popular': endpoint('popular') },
    thresholds: thresholdsOut,
    // What k6 ran, [seconds, iterations/s] per stage: the plan's, unchanged.
    start_rate: plan.start_rate,
    stages: stages().map((s) => [parseInt(s.duration, 10), s.target]),
    passed: thresholdsOut.every((t) => t.pass),
  };
  const files = {
    stdout: `k6: ${out.scenario}: ${out.requests} requests, ${(out.achieved_tps || 0).toFixed(1)}/s, ` +
      `errors ${((out.error_rate || 0) * 100).toFixed(2)} %, thresholds ${out.passed ? 'passed' : 'FAILED'}\n`,
  };
  if (resultsDir) {
    files[`${resultsDir}/k6-summary.json`] = JSON.stringify(out, null, 2);
    files[`${resultsDir}/k6-raw-summary.json`] = JSON.stringify(data, null, 2);
  }
  return files;
}

export { exec };
