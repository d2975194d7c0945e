// Spend condition: the basket qualifies when its lines, less the units earlier offers used up,
// are worth at least `min_spend` (including tax, in the basket's currency). It uses up the units
// it counted, dearest first, until the threshold is reached, so the cheaper rest of the basket
// stays available to other offers. Pure logic with no WIT imports, so node can unit-test it
// (spend.test.js); app.js is the WIT glue.
import { DecimalError, formatMinor, minorDigits, toMinor } from './minor.js';

/** The plugin's configuration is missing or invalid; the message names the key. */
export class ConfigError extends Error {}

/** The input is something the plugin cannot handle (the message says what). */
export class InvalidInput extends Error {}

export const DEFAULT_MIN_SPEND = '25.00';

/** `min_spend` in minor units of the basket's currency (more than zero). */
export function loadMinSpend(config, currency) {
  const raw = config('min_spend');
  const text = raw === undefined || raw === null || String(raw).trim() === '' ? DEFAULT_MIN_SPEND : String(raw);
  let minor;
  try {
    minor = toMinor(text, minorDigits(currency));
  } catch (e) {
    if (!(e instanceof DecimalError)) throw e;
    throw new ConfigError(`min_spend: ${JSON.stringify(text)} is not an amount in ${currency} (${e.message})`);
  }
  if (minor <= 0n) throw new ConfigError(`min_spend: ${JSON.stringify(text)} must be more than 0`);
  return minor;
}

/** The upsell: "Spend GBP 0.50 more to qualify." (the types give a currency's code, no symbol). */
export function upsell(missingMinor, currency) {
  return `Spend ${currency} ${formatMinor(missingMinor, minorDigits(currency))} more to qualify.`;
}

function unitPrice(line, currency) {
  const price = line.unitPriceInclTax;
  if (price.currency.toUpperCase() !== currency) {
    throw new InvalidInput(`line ${line.lineId}: price in ${price.currency}, basket in ${currency}`);
  }
  try {
    return toMinor(price.amount, minorDigits(currency));
  } catch (e) {
    if (!(e instanceof DecimalError)) throw e;
    throw new InvalidInput(`line ${line.lineId}: unit price ${e.message}`);
  }
}

/**
 * Decides for `input` (a WIT `condition-input` as componentize-js hands it over: camelCase
 * fields). Returns `{ isSatisfied, consumed: [{ lineId, quantity }], upsellMessage }`.
 */
export function check(config, input) {
  const currency = String(input.basket.currency).toUpperCase();
  const minSpend = loadMinSpend(config, currency);
  const used = new Map();
  for (const c of input.alreadyConsumed) used.set(c.lineId, (used.get(c.lineId) ?? 0) + c.quantity);

  const candidates = [];
  let total = 0n;
  for (const [index, line] of input.basket.lines.entries()) {
    const free = line.quantity - (used.get(line.lineId) ?? 0);
    if (free <= 0) continue;
    const unit = unitPrice(line, currency);
    if (unit <= 0n) continue; // a free unit adds nothing towards the threshold
    candidates.push({ lineId: line.lineId, free, unit, index });
    total += unit * BigInt(free);
  }
  if (total < minSpend) {
    return { isSatisfied: false, consumed: [], upsellMessage: upsell(minSpend - total, currency) };
  }

  // Dearest first (the fewest units reach the threshold); equal prices in basket order.
  candidates.sort((a, b) => (a.unit === b.unit ? a.index - b.index : a.unit > b.unit ? -1 : 1));
  const consumed = [];
  let counted = 0n;
  for (const c of candidates) {
    if (counted >= minSpend) break;
    // Units of this line still needed: the shortfall over the unit price, rounded up.
    const needed = (minSpend - counted + c.unit - 1n) / c.unit;
    const take = needed < BigInt(c.free) ? Number(needed) : c.free;
    counted += c.unit * BigInt(take);
    consumed.push({ lineId: c.lineId, quantity: take });
  }
  return { isSatisfied: true, consumed, upsellMessage: undefined };
}
