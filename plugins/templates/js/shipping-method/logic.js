// The plugin's logic as a plain ES module (no WIT imports), so `node --test` tests it without
// WebAssembly. Money is never a JavaScript number: amounts are decimal strings, compared
// exactly by the SDK (emporium-sdk.js, copied beside this file).

import { ConfigError, compareAmounts } from './emporium-sdk.js';

function nonNegative(config, key, value) {
  if (value !== undefined && compareAmounts(value, '0') < 0) {
    throw new ConfigError(`${key}: ${JSON.stringify(value)} must be a decimal number, 0 or more`);
  }
  return value;
}

/** The methods for a request; `config` is an SDK `Config`. */
export function quote(config, request) {
  let charge = nonNegative(config, 'charge', config.decimal('charge'));
  const freeOver = nonNegative(config, 'free_over', config.decimalOr('free_over', undefined));
  if (!request.address) return [];
  if (freeOver !== undefined && compareAmounts(request.basket.totalInclTax.amount, freeOver) >= 0) charge = '0';
  return [{ code: 'flat', name: 'Standard delivery', description: 'Delivered in 2 to 4 working days', charge }];
}
