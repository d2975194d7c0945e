// Generated test for {{id}}: `npm test` (or `node --test`) in this folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Config, ConfigError } from './emporium-sdk.js';
import { authorize } from './logic.js';

const config = (values = {}) => new Config((key) => values[key]);

test('test numbers decide', () => {
  assert.deepEqual(authorize(config(), '4242 4242 4242 4242', '10.00', '1'), { approved: 'sandbox-1' });
  assert.deepEqual(authorize(config(), '4000000000000002', '10.00', '1'), { declined: 'Your card was declined.' });
  assert.match(authorize(config(), '4242424242424241', '10.00', '1').declined, /invalid/);
  assert.match(authorize(config(), undefined, '10.00', '1').declined, /required/);
});

test('limit', () => {
  assert.match(authorize(config({ limit: '50' }), '4242424242424242', '100.00', '1').declined, /limit/);
  assert.equal(authorize(config({ limit: '50' }), '4242424242424242', '50.00', '1').approved, 'sandbox-1');
});

test('bad config names the key', () => {
  assert.throws(() => authorize(config({ limit: 'lots' }), '4242424242424242', '1.00', '1'), (e) => e instanceof ConfigError && e.message.startsWith('limit:'));
});
