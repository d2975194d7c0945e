// The plugin's logic as a plain ES module (no WIT imports), so `node --test` tests it without
// WebAssembly. Money is never a JavaScript number: amounts are decimal strings, computed
// exactly by the SDK (emporium-sdk.js, copied beside this file).
//
// Spend threshold: the basket qualifies when the lines in a category (or all lines) add up to
// at least `min_total` including tax. It uses up those lines, so the same units do not count
// towards another offer; units an earlier offer used up are not counted again.

import { ConfigError, addAmounts, compareAmounts, multiplyAmount, round2, subtractAmounts } from './emporium-sdk.js';

/** True when one of the product's category paths is `wanted` or lies below it. */
export function inCategory(categories, wanted) {
  return categories.some((path) => path === wanted || path.startsWith(`${wanted} > `));
}

/** { isSatisfied, consumed: [{ lineId, quantity }], upsellMessage }; `config` is an SDK `Config`. */
export function check(config, input) {
  const minTotal = config.decimalOr('min_total', '50');
  if (compareAmounts(minTotal, '0') < 0) throw new ConfigError(`min_total: ${JSON.stringify(minTotal)} must be 0 or more`);
  const category = config.get('category');
  const used = new Map();
  for (const c of input.alreadyConsumed) used.set(c.lineId, (used.get(c.lineId) ?? 0) + c.quantity);
  const eligible = [];
  let total = '0';
  for (const line of input.basket.lines) {
    if (category !== undefined && !inCategory(line.product.categories, category)) continue;
    const free = line.quantity - (used.get(line.lineId) ?? 0);
    if (free <= 0) continue;
    eligible.push({ lineId: line.lineId, quantity: free });
    total = addAmounts(total, multiplyAmount(line.unitPriceInclTax.amount, free));
  }
  if (eligible.length > 0 && compareAmounts(total, minTotal) >= 0) {
    return { isSatisfied: true, consumed: eligible, upsellMessage: undefined };
  }
  let missing = subtractAmounts(minTotal, total);
  if (compareAmounts(missing, '0') < 0) missing = '0';
  const where = category === undefined ? '' : ` on ${category}`;
  return {
    isSatisfied: false,
    consumed: [],
    upsellMessage: `Spend ${round2(missing)} ${input.basket.currency} more${where} to qualify`,
  };
}
