// Generated test for {{id}}: `npm test` (or `node --test`) in this folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Config, ConfigError } from './emporium-sdk.js';
import { quote } from './logic.js';

const config = (values = {}) => new Config((key) => ({ charge: '4.95', ...values })[key]);
const request = ({ total = '20.00', country = 'GB' } = {}) => ({
  basket: { currency: 'GBP', lines: [], totalInclTax: { amount: total, currency: 'GBP' } },
  customer: {},
  address: country ? { country } : undefined,
});

test('flat charge', () => {
  assert.equal(quote(config(), request())[0].charge, '4.95');
});

test('free over the threshold', () => {
  assert.equal(quote(config({ free_over: '50' }), request({ total: '50.00' }))[0].charge, '0');
  assert.equal(quote(config({ free_over: '50' }), request({ total: '49.99' }))[0].charge, '4.95');
});

test('no address, no quote', () => {
  assert.deepEqual(quote(config(), request({ country: null })), []);
});

test('bad config names the key', () => {
  for (const charge of ['cheap', '-1']) {
    assert.throws(() => quote(config({ charge }), request()), (e) => e instanceof ConfigError && e.message.startsWith('charge:'));
  }
});
