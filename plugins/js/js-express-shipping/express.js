// Express shipping: a fast method for a few countries, priced per item, refused above a weight
// limit, free over a threshold; tells the customer the dispatch cut-off. Pure logic with no WIT
// imports, so node can unit-test it (express.test.js); app.js is the WIT glue.
import * as money from './money.js';

/** The plugin's configuration is missing or invalid; the message names the key. */
export class ConfigError extends Error {}

function decimalSetting(config, key, { required = false, fallback } = {}) {
  const text = config(key);
  if (text === undefined || text === null || String(text).trim() === '') {
    if (required) throw new ConfigError(`${key}: required but not set`);
    return fallback === undefined ? undefined : money.parse(fallback);
  }
  let value;
  try {
    value = money.parse(text);
  } catch (e) {
    throw new ConfigError(`${key}: ${JSON.stringify(text)} is not a decimal number`);
  }
  if (money.isNegative(value)) throw new ConfigError(`${key}: ${JSON.stringify(text)} must not be negative`);
  return value;
}

function integerSetting(config, key, { fallback, min, max }) {
  const text = config(key);
  if (text === undefined || text === null || String(text).trim() === '') return fallback;
  const t = String(text).trim();
  if (!/^\d+$/.test(t) || Number(t) < min || Number(t) > max) {
    throw new ConfigError(`${key}: ${JSON.stringify(text)} must be a whole number from ${min} to ${max}`);
  }
  return Number(t);
}

/** Reads and validates every setting (plugin.toml's [config] schema). */
export function loadSettings(config) {
  const currency = String(config('currency') ?? '').trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) {
    throw new ConfigError(currency ? `currency: ${JSON.stringify(currency)} is not an ISO 4217 code` : 'currency: required but not set');
  }
  const countriesText = String(config('countries') ?? '').trim();
  if (!countriesText) throw new ConfigError('countries: required but not set');
  const countries = new Set();
  for (const raw of countriesText.split(',')) {
    const c = raw.trim().toUpperCase();
    if (!/^[A-Z]{2}$/.test(c)) throw new ConfigError(`countries: ${JSON.stringify(raw.trim())} is not a two-letter country code`);
    countries.add(c);
  }
  return {
    currency,
    countries,
    base: decimalSetting(config, 'base', { required: true }),
    perItem: decimalSetting(config, 'per_item', { fallback: '0' }),
    freeOver: decimalSetting(config, 'free_over'),
    taxRate: decimalSetting(config, 'tax_rate', { fallback: '0' }),
    maxWeightGrams: integerSetting(config, 'max_weight_grams', { fallback: undefined, min: 1, max: 10_000_000 }),
    cutoffHour: integerSetting(config, 'cutoff_hour', { fallback: 14, min: 0, max: 24 }),
    code: String(config('method_code') ?? '').trim() || 'express',
    name: String(config('method_name') ?? '').trim() || 'Express delivery',
  };
}

/** "order within 2 h 5 min to ship today" or "ships on the next working day". */
export function dispatchNote(nowSeconds, cutoffHour) {
  const secondsToday = Number(BigInt(nowSeconds) % 86400n);
  const left = cutoffHour * 3600 - secondsToday;
  if (left <= 0) return 'ships on the next working day';
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  return `order within ${h} h ${m} min to ship today`;
}

/**
 * Every quote for `request` (a WIT `shipping-request` as componentize-js hands it over: camelCase
 * fields, `undefined` for `none`). Returns plain objects with decimal-string charges.
 */
export function quote(config, request, nowSeconds) {
  const s = loadSettings(config);
  const { basket, address } = request;
  if (!address) return [];
  if (basket.currency.toUpperCase() !== s.currency) return [];
  if (!s.countries.has(address.country.toUpperCase())) return [];

  const shipped = basket.lines.filter((l) => l.product.requiresShipping);
  if (shipped.length === 0) return [];
  const grams = shipped.reduce((sum, l) => sum + BigInt(l.weightGrams), 0n);
  if (s.maxWeightGrams !== undefined && grams > BigInt(s.maxWeightGrams)) return [];
  const items = shipped.reduce((sum, l) => sum + l.quantity, 0);

  const total = money.parse(basket.totalInclTax.amount);
  let excl;
  let description;
  if (s.freeOver !== undefined && money.cmp(total, s.freeOver) >= 0) {
    excl = money.ZERO;
    description = `Free next-working-day delivery over ${money.format(s.freeOver)} ${s.currency}`;
  } else {
    excl = money.add(s.base, money.mulInt(s.perItem, items - 1));
    description = 'Next-working-day delivery';
  }
  description += `; ${dispatchNote(nowSeconds, s.cutoffHour)}.`;
  const incl = money.percentOf(excl, money.add({ units: 100n, scale: 0 }, s.taxRate));
  return [
    {
      code: s.code,
      name: s.name,
      description,
      chargeExclTax: money.format(excl),
      chargeInclTax: money.format(incl),
    },
  ];
}
