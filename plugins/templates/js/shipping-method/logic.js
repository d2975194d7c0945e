// The plugin's logic as a plain ES module (no WIT imports), so `node --test` tests it without
// WebAssembly. Money is never a JavaScript number: amounts are decimal strings, compared exactly.

export class ConfigError extends Error {}

const DECIMAL = /^\d+(\.\d+)?$/;

function decimalSetting(config, key) {
  const text = config(key);
  if (text === undefined || text === null || text.trim() === '') return undefined;
  if (!DECIMAL.test(text.trim())) throw new ConfigError(`${key}: ${JSON.stringify(text)} must be a decimal number, 0 or more`);
  return text.trim();
}

/** Exact comparison of two non-negative decimal strings: -1, 0 or 1. */
export function compareDecimal(a, b) {
  const [ai, af = ''] = a.replace(/^-/, '').split('.');
  const [bi, bf = ''] = b.replace(/^-/, '').split('.');
  const scale = Math.max(af.length, bf.length);
  const x = BigInt(ai + af.padEnd(scale, '0'));
  const y = BigInt(bi + bf.padEnd(scale, '0'));
  return x < y ? -1 : x > y ? 1 : 0;
}

export function quote(config, request) {
  let charge = decimalSetting(config, 'charge');
  if (charge === undefined) throw new ConfigError('charge: required but not set');
  const freeOver = decimalSetting(config, 'free_over');
  if (!request.address) return [];
  if (freeOver !== undefined && compareDecimal(request.basket.totalInclTax.amount, freeOver) >= 0) charge = '0';
  return [{ code: 'flat', name: 'Standard delivery', description: 'Delivered in 2 to 4 working days', charge }];
}
