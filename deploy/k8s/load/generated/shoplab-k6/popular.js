// The popular-products API alone: every iteration is GET /api/products/popular.
import { discover, popular, options as build, summary } from './lib/model.js';

export const options = build();
export function setup() {
  return discover();
}
export default function () {
  popular();
}
export function handleSummary(data) {
  return summary(data);
}
