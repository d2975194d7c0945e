// The plugin's logic as a plain ES module (no WIT imports), so `node --test` tests it without
// WebAssembly. Money is never a JavaScript number: amounts are decimal strings, computed
// exactly by the SDK (emporium-sdk.js, copied beside this file).
//
// Volume pricing: a percentage off the partner's price from a quantity on, plus tax.

import { ConfigError, addTax, parseAmount, percentOf, round2, subtractAmounts } from './emporium-sdk.js';

/** The settings, read once per call from an SDK `Config`; errors name the key. */
export function readSettings(config) {
  const whole = (key, fallback, max) => {
    const n = config.integerOr(key, fallback);
    if (n < 0 || n > max) throw new ConfigError(`${key}: ${n} must be a whole number from 0 to ${max}`);
    return n;
  };
  return {
    discountFrom: whole('discount_from', 10, 2 ** 32 - 1),
    discountPercent: whole('discount_percent', 5, 100),
    taxPercent: whole('tax_percent', 20, 100),
  };
}

/** [excluding tax, including tax] for one unit, rounded to 2 places. */
export function unitPrice(settings, partnerPrice, quantity) {
  let excl = parseAmount(partnerPrice);
  if (quantity >= settings.discountFrom) excl = subtractAmounts(excl, percentOf(excl, settings.discountPercent));
  excl = round2(excl);
  return [excl, addTax(excl, settings.taxPercent)];
}

/**
 * One decision per item, in order: { productId, partnerId, exclTax, inclTax, status,
 * numAvailable, message }, `status` being the WIT `stock-status` case. The first stock record
 * priced in the requested currency wins.
 */
export function price(settings, context, items) {
  return items.map((item) => {
    const record = item.stockRecords.find((s) => s.priceExclTax && s.priceExclTax.currency === context.currency);
    if (!record) {
      return { productId: item.product.id, status: 'unavailable', message: 'Not available' };
    }
    const [exclTax, inclTax] = unitPrice(settings, record.priceExclTax.amount, context.quantity);
    const numAvailable = record.numInStock === undefined ? undefined : Math.max(record.numInStock - record.numAllocated, 0);
    const inStock = numAvailable !== 0;
    return {
      productId: item.product.id,
      partnerId: record.partnerId,
      exclTax,
      inclTax,
      status: inStock ? 'in-stock' : 'out-of-stock',
      numAvailable,
      message: inStock ? 'In stock' : 'Out of stock',
    };
  });
}
