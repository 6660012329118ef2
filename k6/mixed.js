// The target's endpoints in the plan's mix (ORDER_RATIO, or the target's weights): the script
// the runner uses. ORDER_RATIO=1 sends orders alone, 0 none.
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
