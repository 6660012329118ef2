// Both APIs in the mix of ORDER_RATIO (default 0.5): the scenario the runner uses.
import { discover, mixed, options as build, summary } from './lib/model.js';

export const options = build();
export function setup() {
  return discover();
}
export default function (ids) {
  mixed(ids);
}
export function handleSummary(data) {
  return summary(data);
}
