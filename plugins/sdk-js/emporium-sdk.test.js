// Tests of the JavaScript SDK: `node --test` in plugins/sdk-js (xtask runs them before it
// builds the JavaScript templates).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Config,
  ConfigError,
  InvalidInput,
  Logger,
  addAmounts,
  addTax,
  fromMinor,
  toMinor,
  compareAmounts,
  multiplyAmount,
  parseAmount,
  percentOf,
  round2,
  subtractAmounts,
  toPluginError,
} from './emporium-sdk.js';

test('arithmetic is exact, never floats', () => {
  assert.equal(addAmounts('0.1', '0.2'), '0.3');
  assert.equal(subtractAmounts('50', '12.00'), '38.00');
  assert.equal(subtractAmounts('1.00', '2.5'), '-1.50');
  assert.equal(multiplyAmount('12.00', 3), '36.00');
  assert.equal(compareAmounts('49.99', '50'), -1);
  assert.equal(compareAmounts('50.00', '50'), 0);
  assert.equal(compareAmounts('-1', '-2'), 1);
});

test('rounds half away from zero to two places', () => {
  assert.equal(round2('7'), '7.00');
  assert.equal(round2('1.005'), '1.01');
  assert.equal(round2('-1.005'), '-1.01');
  assert.equal(round2('-0.001'), '0.00');
  assert.equal(addTax('10.00', 20), '12.00');
  assert.equal(addTax('1.25', '20'), '1.50');
  assert.equal(percentOf('9.99', 5), '0.50');
  assert.equal(toMinor('12.5'), 1250n);
  assert.equal(toMinor('-0.015'), -2n);
  assert.equal(fromMinor(-5n), '-0.05');
  assert.equal(fromMinor(123450), '1234.50');
});

test('rejects exponents, junk and fractional numbers', () => {
  for (const bad of ['1e3', '', '1,000', '€5', ' 1', 'NaN', '1.', 0.1]) {
    assert.throws(() => round2(bad), InvalidInput, JSON.stringify(bad));
  }
  assert.equal(parseAmount('-3.5'), '-3.5');
});

test('config getters are typed and name the key', () => {
  const values = { threshold: ' 12.50 ', count: '3', flag: 'true', blank: ' ', bad: 'ten' };
  const config = new Config((key) => values[key]);
  assert.equal(config.decimal('threshold'), '12.50');
  assert.equal(config.integer('count'), 3);
  assert.equal(config.booleanOr('flag', false), true);
  assert.equal(config.decimalOr('blank', '4.95'), '4.95');
  assert.equal(config.integerOr('missing', 7), 7);
  assert.equal(config.stringOr('missing', 'x'), 'x');
  for (const [call, key] of [
    [() => config.decimal('bad'), 'bad'],
    [() => config.integer('threshold'), 'threshold'],
    [() => config.required('missing'), 'missing'],
  ]) {
    assert.throws(call, (e) => e instanceof ConfigError && e.message.startsWith(`${key}:`));
  }
});

test('errors map to the WIT plugin-error; other exceptions are thrown again', () => {
  assert.deepEqual(toPluginError(new ConfigError('charge: x')), { tag: 'config', val: 'charge: x' });
  assert.deepEqual(toPluginError(new InvalidInput('y')), { tag: 'invalid-input', val: 'y' });
  assert.throws(() => toPluginError(new TypeError('bug')), TypeError);
});

test('the logger passes levels to the sink', () => {
  const seen = [];
  const log = new Logger((level, message) => seen.push([level, message]));
  log.debug('a');
  log.warn('b');
  assert.deepEqual(seen, [['debug', 'a'], ['warn', 'b']]);
});
