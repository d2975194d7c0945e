// Unit tests of the pure logic under node (no WebAssembly): `node --test` in this folder.
// The component itself is tested through the host's runtime in tests/plugins_polyglot.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as money from './money.js';
import { ConfigError, dispatchNote, quote } from './express.js';

const CONFIG = {
  currency: 'GBP',
  countries: 'GB, IE',
  base: '7.50',
  per_item: '1.25',
  free_over: '100',
  tax_rate: '20',
  max_weight_grams: '20000',
};
const config = (overrides = {}) => (key) => ({ ...CONFIG, ...overrides })[key];

const line = (quantity, grams, requiresShipping = true) => ({
  quantity,
  weightGrams: BigInt(grams),
  product: { requiresShipping },
});
const request = ({ country = 'GB', total = '30.00', currency = 'GBP', lines } = {}) => ({
  basket: {
    currency,
    lines: lines ?? [line(2, 1000), line(1, 500)],
    totalInclTax: { amount: total, currency },
  },
  customer: {},
  address: country ? { country } : undefined,
});
const NOON = 1_700_000_000n - (1_700_000_000n % 86400n) + 12n * 3600n;

test('money is exact', () => {
  const s = (x) => money.format(x);
  assert.equal(s(money.add(money.parse('0.1'), money.parse('0.2'))), '0.3');
  assert.equal(s(money.percentOf(money.parse('7.45'), money.parse('120'))), '8.94');
  assert.equal(s(money.parse('0.000')), '0');
  assert.equal(s(money.parse('-0.05')), '-0.05');
  assert.equal(s(money.mulInt(money.parse('1.25'), 3)), '3.75');
  assert.equal(money.cmp(money.parse('100'), money.parse('100.00')), 0);
  assert.throws(() => money.parse('1e3'), money.DecimalError);
  assert.throws(() => money.parse('12,50'), money.DecimalError);
});

test('base plus per additional item, with tax', () => {
  const [q] = quote(config(), request(), NOON);
  // 7.50 + 2 x 1.25 = 10.00; +20 % = 12.00
  assert.equal(q.chargeExclTax, '10');
  assert.equal(q.chargeInclTax, '12');
  assert.equal(q.code, 'express');
  assert.equal(q.description, 'Next-working-day delivery; order within 2 h 0 min to ship today.');
});

test('free over the threshold, inclusive', () => {
  const [q] = quote(config(), request({ total: '100.00' }), NOON);
  assert.equal(q.chargeExclTax, '0');
  assert.equal(q.chargeInclTax, '0');
});

test('no quote: other country, no address, other currency, too heavy, nothing to ship', () => {
  assert.deepEqual(quote(config(), request({ country: 'FR' }), NOON), []);
  assert.deepEqual(quote(config(), request({ country: null }), NOON), []);
  assert.deepEqual(quote(config(), request({ currency: 'EUR' }), NOON), []);
  assert.deepEqual(quote(config(), request({ lines: [line(1, 20001)] }), NOON), []);
  assert.deepEqual(quote(config(), request({ lines: [line(1, 0, false)] }), NOON), []);
});

test('cut-off note', () => {
  assert.equal(dispatchNote(NOON, 14), 'order within 2 h 0 min to ship today');
  assert.equal(dispatchNote(NOON + 3n * 3600n, 14), 'ships on the next working day');
});

test('bad config names the key', () => {
  for (const [overrides, key] of [
    [{ base: undefined }, 'base'],
    [{ base: 'cheap' }, 'base'],
    [{ per_item: '-1' }, 'per_item'],
    [{ countries: 'GBR' }, 'countries'],
    [{ countries: '' }, 'countries'],
    [{ currency: 'pounds' }, 'currency'],
    [{ cutoff_hour: '25' }, 'cutoff_hour'],
    [{ max_weight_grams: '1.5' }, 'max_weight_grams'],
  ]) {
    assert.throws(() => quote(config(overrides), request(), NOON), (e) => e instanceof ConfigError && e.message.startsWith(`${key}:`));
  }
});
