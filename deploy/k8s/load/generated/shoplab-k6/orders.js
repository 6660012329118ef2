// The order-payment API alone: every iteration is POST /api/orders.
import { discover, order, options as build, summary } from './lib/model.js';

export const options = build();
export function setup() {
  return discover();
}
export default function (ids) {
  order(ids);
}
export function handleSummary(data) {
  return summary(data);
}
