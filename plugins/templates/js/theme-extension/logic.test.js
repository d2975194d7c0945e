// Generated test for {{id}}: `npm test` (or `node --test`) in this folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Config, InvalidInput } from './emporium-sdk.js';
import { call } from './logic.js';

const config = (values = {}) => new Config((key) => values[key]);

test('format_amount', () => {
  assert.equal(call(config(), 'format_amount', ['1234.5', 'GBP']), '£1,234.50');
  assert.equal(call(config(), 'format_amount', ['1234567.005', 'CHF']), '1,234,567.01 CHF');
  assert.equal(call(config(), 'format_amount', ['-5', 'USD']), '-$5.00');
  assert.equal(call(config(), 'format_amount', ['999']), '999.00');
  assert.equal(call(config({ thousands_separator: ' ' }), 'format_amount', ['1000', 'EUR']), '€1 000.00');
});

test('percent_off', () => {
  assert.equal(call(config(), 'percent_off', ['20.00', '15.00']), '25%');
  assert.equal(call(config(), 'percent_off', ['3', '2']), '33%');
  assert.equal(call(config(), 'percent_off', ['8', '7']), '13%');
  assert.equal(call(config(), 'percent_off', ['10', '12']), '0%');
});

test('bad arguments are invalid input', () => {
  for (const [name, args] of [
    ['format_amount', ['Ada Lovelace']],
    ['format_amount', [12.5, 'GBP']],
    ['percent_off', ['20.00']],
    ['percent_off', ['0', '0']],
    ['nope', []],
  ]) {
    assert.throws(() => call(config(), name, args), InvalidInput, `${name}${JSON.stringify(args)}`);
  }
});
