// Generated test for {{id}}: `npm test` (or `node --test`) in this folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Config, ConfigError } from './emporium-sdk.js';
import { price, readSettings } from './logic.js';

const settings = (values = {}) => readSettings(new Config((key) => values[key]));
const item = ({ id = 'p1', amount = '10.00', currency = 'GBP', inStock = 20, allocated = 0 } = {}) => ({
  product: { id },
  stockRecords: [
    {
      partnerId: 'warehouse',
      priceExclTax: amount === null ? undefined : { amount, currency },
      numInStock: inStock,
      numAllocated: allocated,
    },
  ],
});
const context = (quantity = 1) => ({ customer: {}, currency: 'GBP', quantity });

test('discount from the quantity, then tax', () => {
  const [one] = price(settings(), context(1), [item()]);
  assert.deepEqual([one.exclTax, one.inclTax, one.status], ['10.00', '12.00', 'in-stock']);
  const [ten] = price(settings(), context(10), [item()]);
  assert.deepEqual([ten.exclTax, ten.inclTax], ['9.50', '11.40']);
});

test('stock and currency decide availability', () => {
  const [out, other, unpriced] = price(settings(), context(), [
    item({ inStock: 3, allocated: 3 }),
    item({ id: 'p2', currency: 'EUR' }),
    item({ id: 'p3', amount: null }),
  ]);
  assert.deepEqual([out.status, out.numAvailable], ['out-of-stock', 0]);
  assert.deepEqual([other.status, other.exclTax], ['unavailable', undefined]);
  assert.equal(unpriced.status, 'unavailable');
});

test('bad settings name the key', () => {
  for (const [key, value] of [['discount_percent', '200'], ['tax_percent', 'lots']]) {
    assert.throws(() => settings({ [key]: value }), (e) => e instanceof ConfigError && e.message.startsWith(`${key}:`));
  }
});
