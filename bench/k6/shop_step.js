// One constant-arrival-rate step against the shop, for bench/bench_shop.py.
// Env: BASE_URL, ENDPOINT (orders|popular), RATE (req/s), DURATION (e.g. 10s), USERS, PRODUCTS.
import http from 'k6/http';
import { check } from 'k6';

const BASE = __ENV.BASE_URL;
const ENDPOINT = __ENV.ENDPOINT || 'orders';
const RATE = parseInt(__ENV.RATE || '100', 10);
const USERS = parseInt(__ENV.USERS || '10000', 10);
const PRODUCTS = parseInt(__ENV.PRODUCTS || '1000', 10);

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
  scenarios: {
    step: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      preAllocatedVUs: Math.min(Math.max(50, Math.ceil(RATE / 4)), 400),
      maxVUs: 600,
    },
  },
};

const JSON_HEADERS = { headers: { 'Content-Type': 'application/json' } };

function randInt(n) {
  return 1 + Math.floor(Math.random() * n);
}

export default function () {
  let res;
  if (ENDPOINT === 'popular') {
    res = http.get(`${BASE}/api/products/popular?days=3&limit=5`);
    check(res, { 'status 200': (r) => r.status === 200 });
  } else {
    const body = JSON.stringify({
      user_id: randInt(USERS),
      items: [{ product_id: randInt(PRODUCTS), quantity: 1 }],
    });
    res = http.post(`${BASE}/api/orders`, body, JSON_HEADERS);
    check(res, { 'status 201': (r) => r.status === 201 });
  }
}
