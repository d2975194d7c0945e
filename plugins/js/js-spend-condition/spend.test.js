// Unit tests of the pure logic under node (no WebAssembly): `node --test` in this folder.
// The component itself is tested through the shop's basket and checkout in
// tests/offers_polyglot.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { DecimalError, formatMinor, minorDigits, toMinor } from './minor.js';
import { ConfigError, InvalidInput, check } from './spend.js';

const config = (values = {}) => (key) => values[key];
const line = (lineId, quantity, unit, currency = 'GBP') => ({
  lineId,
  quantity,
  product: { id: `p${lineId}` },
  unitPriceInclTax: { amount: unit, currency },
});
const input = (lines, consumed = [], currency = 'GBP') => ({
  basket: { currency, lines },
  customer: {},
  alreadyConsumed: consumed.map(([lineId, quantity]) => ({ lineId, quantity })),
});

test('minor units are exact', () => {
  assert.equal(toMinor('12.5', 2), 1250n);
  assert.equal(toMinor('0.10', 2) + toMinor('0.20', 2), 30n); // not 0.30000000000000004
  assert.equal(toMinor('25', 2), 2500n);
  assert.equal(toMinor('10.000', 2), 1000n);
  assert.equal(toMinor('-3.99', 2), -399n);
  assert.equal(toMinor('1500', minorDigits('JPY')), 1500n);
  assert.equal(toMinor('1.5', minorDigits('KWD')), 1500n);
  assert.throws(() => toMinor('0.005', 2), DecimalError);
  assert.throws(() => toMinor('1e3', 2), DecimalError);
  assert.throws(() => toMinor('12,50', 2), DecimalError);
  assert.throws(() => toMinor('£5', 2), DecimalError);
  assert.equal(formatMinor(50n, 2), '0.50');
  assert.equal(formatMinor(123456n, 2), '1234.56');
  assert.equal(formatMinor(7n, 0), '7');
  assert.equal(formatMinor(5n, 3), '0.005');
});

test('below the threshold: the upsell names what is missing, in the basket currency', () => {
  const d = check(config(), input([line('1', 2, '10.00'), line('2', 1, '4.50')]));
  assert.deepEqual(d, { isSatisfied: false, consumed: [], upsellMessage: 'Spend GBP 0.50 more to qualify.' });
  const empty = check(config({ min_spend: '30' }), input([], [], 'EUR'));
  assert.equal(empty.upsellMessage, 'Spend EUR 30.00 more to qualify.');
  const yen = check(config({ min_spend: '5000' }), input([line('1', 1, '1200', 'JPY')], [], 'JPY'));
  assert.equal(yen.upsellMessage, 'Spend JPY 3800 more to qualify.');
});

test('consumes the dearest units until the threshold is reached', () => {
  // 25.00 from 4.50 x 2, 10.00 x 2, 1.00 x 9: both 10.00 units, then two of the 4.50 ones.
  const lines = [line('1', 2, '4.50'), line('2', 2, '10.00'), line('3', 9, '1.00')];
  const d = check(config(), input(lines));
  assert.equal(d.isSatisfied, true);
  assert.equal(d.upsellMessage, undefined);
  assert.deepEqual(d.consumed, [
    { lineId: '2', quantity: 2 },
    { lineId: '1', quantity: 2 },
  ]);
});

test('the threshold is inclusive and exact', () => {
  const d = check(config({ min_spend: '0.30' }), input([line('1', 3, '0.10')]));
  assert.deepEqual(d.consumed, [{ lineId: '1', quantity: 3 }]);
  assert.equal(check(config({ min_spend: '0.31' }), input([line('1', 3, '0.10')])).upsellMessage, 'Spend GBP 0.01 more to qualify.');
});

test('equal prices are taken in basket order', () => {
  const d = check(config({ min_spend: '15' }), input([line('7', 1, '10'), line('3', 1, '10')]));
  assert.deepEqual(d.consumed, [
    { lineId: '7', quantity: 1 },
    { lineId: '3', quantity: 1 },
  ]);
});

test('already consumed units do not count', () => {
  const lines = [line('1', 2, '10.00'), line('2', 2, '4.50')];
  // 29.00 in all, but one 10.00 unit is used: 19.00 left.
  const d = check(config(), input(lines, [['1', 1]]));
  assert.equal(d.upsellMessage, 'Spend GBP 6.00 more to qualify.');
  const ok = check(config({ min_spend: '14.5' }), input(lines, [['1', 1], ['2', 1]]));
  assert.deepEqual(ok.consumed, [
    { lineId: '1', quantity: 1 },
    { lineId: '2', quantity: 1 },
  ]);
  // Over-consumed lines (in two parts) count as nothing, not as negative.
  const none = check(config(), input(lines, [['1', 1], ['1', 2]]));
  assert.equal(none.upsellMessage, 'Spend GBP 16.00 more to qualify.');
});

test('bad config names the key; unreadable input is invalid-input', () => {
  for (const value of ['0', '-5', 'lots', '1e2', '25.001', '£25']) {
    assert.throws(
      () => check(config({ min_spend: value }), input([])),
      (e) => e instanceof ConfigError && e.message.startsWith('min_spend:'),
      value,
    );
  }
  assert.throws(() => check(config(), input([line('1', 1, '10', 'EUR')])), InvalidInput);
  assert.throws(() => check(config(), input([line('1', 1, '10.005')])), InvalidInput);
});
