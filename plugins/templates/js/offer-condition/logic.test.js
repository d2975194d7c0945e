// Generated test for {{id}}: `npm test` (or `node --test`) in this folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Config, ConfigError } from './emporium-sdk.js';
import { check } from './logic.js';

const config = (values = {}) => new Config((key) => values[key]);
const line = (lineId, quantity, category = 'Books') => ({
  lineId,
  quantity,
  product: { categories: [category] },
  unitPriceInclTax: { amount: '12.00', currency: 'GBP' },
});
const input = (lines, consumed = []) => ({
  basket: { currency: 'GBP', lines },
  customer: {},
  alreadyConsumed: consumed.map(([lineId, quantity]) => ({ lineId, quantity })),
});
const consumed = (d) => d.consumed.map((c) => [c.lineId, c.quantity]);

test('the spend threshold consumes the lines', () => {
  const d = check(config(), input([line('a', 3), line('b', 2)]));
  assert.equal(d.isSatisfied, true);
  assert.deepEqual(consumed(d), [['a', 3], ['b', 2]]);
});

test('below the threshold it nudges', () => {
  const d = check(config(), input([line('a', 1)]));
  assert.deepEqual([d.isSatisfied, d.consumed], [false, []]);
  assert.equal(d.upsellMessage, 'Spend 38.00 GBP more to qualify');
});

test('units used by earlier offers do not count', () => {
  assert.equal(check(config(), input([line('a', 5)], [['a', 2]])).upsellMessage, 'Spend 14.00 GBP more to qualify');
  assert.deepEqual(consumed(check(config({ min_total: '36' }), input([line('a', 5)], [['a', 2]]))), [['a', 3]]);
});

test('a category and its subcategories', () => {
  const lines = [line('a', 5, 'Books > Crime'), line('b', 5, 'Music')];
  assert.deepEqual(consumed(check(config({ category: 'Books' }), input(lines))), [['a', 5]]);
  assert.equal(
    check(config({ category: 'Music > Jazz' }), input(lines)).upsellMessage,
    'Spend 50.00 GBP more on Music > Jazz to qualify',
  );
});

test('bad config names the key', () => {
  assert.throws(() => check(config({ min_total: 'lots' }), input([])), (e) => e instanceof ConfigError && e.message.startsWith('min_total:'));
});
