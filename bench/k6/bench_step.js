// One lean constant-arrival-rate step for `make bench-shop` (bench/steps.py): k6 must not be
// the limit, so no checks, no remote write, bodies discarded and only the status tag kept.
// Env: BASE_URL, ENDPOINT (orders|popular), RATE (req/s), DURATION (e.g. 8s), VUS, MAX_VUS,
// USERS, PRODUCTS.
import http from 'k6/http';

const BASE = __ENV.BASE_URL;
const POPULAR = __ENV.ENDPOINT === 'popular';
const USERS = parseInt(__ENV.USERS || '10000', 10);
const PRODUCTS = parseInt(__ENV.PRODUCTS || '1000', 10);

export const options = {
  discardResponseBodies: true,
  systemTags: ['status', 'expected_response'],
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'max'],
  scenarios: {
    step: {
      executor: 'constant-arrival-rate',
      rate: parseInt(__ENV.RATE, 10),
      timeUnit: '1s',
      duration: __ENV.DURATION || '8s',
      preAllocatedVUs: parseInt(__ENV.VUS || '50', 10),
      maxVUs: parseInt(__ENV.MAX_VUS || '400', 10),
    },
  },
};

const POPULAR_URL = `${BASE}/api/products/popular?days=3&limit=5`;
const ORDERS_URL = `${BASE}/api/orders`;
const JSON_HEADERS = { headers: { 'Content-Type': 'application/json' } };

export default function () {
  if (POPULAR) {
    http.get(POPULAR_URL);
    return;
  }
  const user = 1 + Math.floor(Math.random() * USERS);
  const product = 1 + Math.floor(Math.random() * PRODUCTS);
  http.post(
    ORDERS_URL,
    `{"user_id":${user},"items":[{"product_id":${product},"quantity":1}]}`,
    JSON_HEADERS,
  );
}
