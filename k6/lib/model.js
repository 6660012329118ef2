// The traffic model of every k6 script: the plan, id discovery, one request per endpoint of the
// target with its checks, thresholds, the stage and SLO series and the JSON summary. Every knob
// comes resolved in the plan the runner wrote (LOAD_PLAN: its JSON, or the path of a file
// holding it; see `python -m lab.load plan`): stages in iterations/s and whole seconds, the
// target's endpoints with their templates and SLO, hot ids, the mix, the base URL. Nothing is
// parsed or rounded here; the templates are the target file's (docs/targets.md).
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
const target = plan.target;
const endpoints = target.endpoints;
const resultsDir = plan.results_dir || __ENV.RESULTS_DIR || '';
// The same placeholders as targets/__init__.py: {name}, {uuid}, {int:low:high}.
const PLACEHOLDER = /\{([a-z_][a-z0-9_]*)(?::(-?\d+):(-?\d+))?\}/g;

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
  const out = {};
  for (const e of endpoints) {
    if (!(plan.mix[e.name] > 0)) continue; // an endpoint the mix leaves out is not judged
    out[`http_req_duration{endpoint:${e.name}}`] = [t(`p(95)<${slo.p95_ms[e.name]}`)];
    out[`http_req_failed{endpoint:${e.name}}`] = [t(`rate<=${slo.error_rate}`)];
  }
  out.dropped_iterations = [`count<=${slo.dropped}`];
  out.checks = [`rate>=${1 - slo.error_rate}`];
  return out;
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

// ---- ids: each from its range, or asked of the service (the target's `ids`) ----------------
const SETUP = { tags: { endpoint: 'setup' } };

function highestAnswering(path) {
  const probe = { tags: { endpoint: 'setup' }, responseCallback: http.expectedStatuses(200, 404) };
  const exists = (id) => http.get(`${plan.base_url}${path.replace('{id}', id)}`, probe).status === 200;
  if (!exists(1)) fail(`GET ${path.replace('{id}', 1)} is not 200: is the service seeded (flask --app shop seed)?`);
  let lo = 1;
  while (exists(lo * 2) && lo < 1e9) lo *= 2;
  let hi = lo * 2;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (exists(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

export function discover() {
  const ids = {};
  for (const [name, spec] of Object.entries(target.ids)) {
    let high = spec.high;
    if (spec.bisect) high = highestAnswering(spec.bisect);
    if (spec.count) {
      const res = http.get(`${plan.base_url}${spec.count}`, SETUP);
      if (res.status !== 200) fail(`GET ${spec.count} answered ${res.status}: is the service up at ${plan.base_url}?`);
      high = Number(res.json(spec.count_field));
    }
    if (!(high >= spec.low)) fail(`no ${name} ids (${spec.low}..${high}): seed the service first`);
    ids[name] = { low: spec.low, high };
  }
  return ids;
}

function between(low, high) {
  return low + Math.floor(Math.random() * (high - low + 1));
}

function uuid() {
  let out = '';
  for (let i = 0; i < 32; i++) out += Math.floor(Math.random() * 16).toString(16);
  return out;
}

// One request's values: each id drawn once (the hot one narrowed by HOT_USERS), so {user} in
// the path and the body is the same user.
function Draw(ids) {
  const values = {};
  const draw = {
    hot: false,
    span(name) {
      return ids[name];
    },
    id(name) {
      const span = ids[name];
      if (name === target.hot && plan.hot_users > 0 && Math.random() < plan.hot_ratio) {
        draw.hot = true;
        return between(span.low, Math.min(span.low + plan.hot_users - 1, span.high));
      }
      return between(span.low, span.high);
    },
    value(name, low, high, scope) {
      if (name === 'uuid') return uuid();
      if (name === 'int') return between(Number(low), Number(high));
      if (scope && name in scope) return scope[name];
      if (!(name in values)) values[name] = draw.id(name);
      return values[name];
    },
  };
  return draw;
}

function render(template, draw, scope) {
  if (typeof template === 'string') {
    const whole = template.match(/^\{([a-z_][a-z0-9_]*)(?::(-?\d+):(-?\d+))?\}$/);
    if (whole) return draw.value(whole[1], whole[2], whole[3], scope);
    return template.replace(PLACEHOLDER, (_, name, low, high) => String(draw.value(name, low, high, scope)));
  }
  if (Array.isArray(template)) return template.map((t) => render(t, draw, scope));
  if (template !== null && typeof template === 'object') {
    if ('$each' in template) {
      const name = template.$each;
      const [low, high] = template.$count || [1, 1];
      const span = draw.span(name);
      const n = Math.min(between(low, high), span.high - span.low + 1);
      const chosen = new Set();
      while (chosen.size < n) chosen.add(between(span.low, span.high));
      return [...chosen].map((v) => render(template.$item, draw, { ...scope, [name]: v }));
    }
    const out = {};
    for (const [k, v] of Object.entries(template)) out[k] = render(v, draw, scope);
    return out;
  }
  return template;
}

// The run's TARGET_TPS (k6_target_tps), each endpoint's p95 objective (k6_slo_p95_seconds) and
// the 1-based index of the plan's stage running now (k6_loadtest_stage), as series the
// dashboards draw and annotate with: every iteration samples them, the remote write sends the
// last values every second.
const targetTps = new Gauge('target_tps');
const sloP95 = new Gauge('slo_p95_seconds');
const loadtestStage = new Gauge('loadtest_stage');

function stageNow() {
  const t = (Date.now() - exec.scenario.startTime) / 1000; // setup() not counted
  const stage = plan.stages.find((s) => t < s.start_s + s.seconds);
  return stage ? stage.index : plan.stages[plan.stages.length - 1].index;
}

function mark(e) {
  targetTps.add(plan.target_tps);
  sloP95.add(plan.slo.p95_ms[e.name] / 1000, { endpoint: e.name });
  loadtestStage.add(stageNow());
}

// One run-log field: `answer.f` (the JSON answer's field, on an expected status), `header.H`
// or `body.f` (what was sent).
function logged(source, res, headers, body, ok) {
  const [where, ...rest] = source.split('.');
  const field = rest.join('.');
  if (where === 'header') return headers[field] === undefined ? null : headers[field];
  if (where === 'body') return body && body[field] !== undefined ? body[field] : null;
  if (!ok) return null;
  try {
    const v = res.json(field);
    return v === undefined ? null : v;
  } catch (_) {
    return null;
  }
}

export function request(e, idSpans) {
  mark(e);
  const draw = Draw(idSpans);
  const path = render(e.path, draw);
  const headers = {};
  for (const [k, v] of Object.entries(e.headers)) headers[k] = String(render(v, draw));
  let body = null;
  if (e.body !== null && e.body !== undefined) {
    body = render(e.body, draw);
    headers['Content-Type'] = 'application/json';
  }
  const sent = Date.now();
  const res = http.request(e.method, `${plan.base_url}${path}`, body === null ? null : JSON.stringify(body), {
    headers,
    tags: { endpoint: e.name, name: e.key, hot: draw.hot ? 'yes' : 'no' },
    responseCallback: http.expectedStatuses(...e.expect),
  });
  const ok = e.expect.includes(res.status);
  // The run log the audit reconciles and `make chaos` times (<results>/orders.jsonl, the
  // runner's console output): status 0 means no answer came (timeout, connection refused).
  const line = { endpoint: e.name, status: res.status, t: sent / 1000, ms: Date.now() - sent };
  for (const [field, source] of Object.entries(e.log)) line[field] = logged(source, res, headers, body, ok);
  console.log(JSON.stringify(line));
  const checks = { [`${e.name}: ${e.expect.join(' or ')}`]: () => ok };
  for (const [field, source] of Object.entries(e.log)) {
    if (source.startsWith('answer.')) checks[`${e.name}: answer has ${field}`] = () => ok && line[field] !== null;
  }
  check(res, checks, { endpoint: e.name });
  return res;
}

// The mix, interleaved: iteration n of this instance (one count over its VUs) takes the endpoint
// whose share holds the n-th point of the van der Corput sequence (n's binary digits mirrored
// after the point). Over any n iterations each endpoint is then within about log2(n) of its
// share, where drawing each by chance strays by sqrt(n) (a 10-request smoke could send 2 orders
// of 5); Locust interleaves its own the same way (lab.load.model.Mix). Per instance, not per
// test: a distributed run (the k6-operator's parallelism) deals the test's iterations out in
// turn, so that the test's count would send each instance one endpoint only.
const cumulative = [];
{
  let sum = 0;
  for (const e of endpoints) {
    sum += plan.mix[e.name] || 0;
    cumulative.push([sum, e]);
  }
}

export function vanDerCorput(n) {
  let x = 0;
  for (let digit = 0.5; n > 0; n = Math.floor(n / 2), digit /= 2) x += (n % 2) * digit;
  return x;
}

export function mixed(idSpans) {
  const x = vanDerCorput(exec.scenario.iterationInInstance) * cumulative[cumulative.length - 1][0];
  const picked = cumulative.find(([edge]) => x < edge) || cumulative[cumulative.length - 1];
  return request(picked[1], idSpans);
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
  // k6 keeps a submetric only for the thresholds it has: every endpoint of the mix has one.
  const judged = endpoints.filter((e) => plan.mix[e.name] > 0);
  const requests = judged.reduce((n, e) => n + count(e.name), 0);
  const failures = Math.round(judged.reduce((n, e) => n + failed(e.name), 0));
  const endpoint = (tag) => ({
    count: metricValue(data, `http_req_duration{endpoint:${tag}}`, 'count'),
    p95_ms: metricValue(data, `http_req_duration{endpoint:${tag}}`, 'p(95)'),
    p99_ms: metricValue(data, `http_req_duration{endpoint:${tag}}`, 'p(99)'),
    failures: Math.round(failed(tag)),
  });
  const out = {
    tool,
    scenario: plan.scenario,
    testid: plan.testid,
    target: target.name,
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
    endpoints: Object.fromEntries(endpoints.map((e) => [e.key, endpoint(e.name)])),
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
