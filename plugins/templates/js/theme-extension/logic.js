// The plugin's logic as a plain ES module (no WIT imports), so `node --test` tests it without
// WebAssembly. Money is never a JavaScript number: amounts arrive as decimal strings and are
// computed exactly by the SDK (emporium-sdk.js, copied beside this file).
//
// Two template filters for prices:
//     {{ "1234.5" | format_amount("GBP") }}   ->  £1,234.50
//     {{ "20.00" | percent_off("15.00") }}    ->  25%

import { InvalidInput, fromMinor, isAmount, toMinor } from './emporium-sdk.js';

/** What `functions` lists; `kind` is the WIT `function-kind` case. */
export const HELPERS = [
  { name: 'format_amount', kind: 'filter', help: '"1234.5" | format_amount("GBP") -> "£1,234.50"' },
  { name: 'percent_off', kind: 'filter', help: '"20.00" | percent_off("15.00") -> "25%"' },
];

const SYMBOLS = { GBP: '£', EUR: '€', USD: '$' };

// Argument `i` as an amount. Only decimal strings: a JSON number may already have lost cents on
// its way through a float.
function amountArg(name, args, i) {
  if (i >= args.length) throw new InvalidInput(`${name}: missing argument ${i + 1}`);
  const value = args[i];
  if (typeof value !== 'string') throw new InvalidInput(`${name}: argument ${i + 1} must be a decimal string like "12.50"`);
  if (!isAmount(value.trim())) throw new InvalidInput(`${name}: argument ${i + 1}, ${JSON.stringify(value)}, is not a decimal amount`);
  return value.trim();
}

/** "1234567" -> "1,234,567". */
function group(digits, separator) {
  const head = digits.length % 3 || 3;
  const parts = [digits.slice(0, head)];
  for (let i = head; i < digits.length; i += 3) parts.push(digits.slice(i, i + 3));
  return parts.join(separator);
}

function formatAmount(config, args) {
  const minor = toMinor(amountArg('format_amount', args, 0));
  const currency = args[1];
  if (currency !== undefined && typeof currency !== 'string') throw new InvalidInput('format_amount: the currency must be a code like "GBP"');
  const [whole, cents] = fromMinor(minor < 0n ? -minor : minor).split('.');
  const number = `${group(whole, config.stringOr('thousands_separator', ','))}.${cents}`;
  const sign = minor < 0n ? '-' : '';
  if (SYMBOLS[currency]) return `${sign}${SYMBOLS[currency]}${number}`;
  return currency ? `${sign}${number} ${currency}` : `${sign}${number}`;
}

function percentOff(config, args) {
  const was = toMinor(amountArg('percent_off', args, 0));
  const now = toMinor(amountArg('percent_off', args, 1));
  if (was <= 0n) throw new InvalidInput('percent_off: the old price must be more than 0');
  if (now >= was) return '0%';
  // (was - now) / was in whole per cent, rounded half up: exact in integer hundredths.
  const off = ((was - now) * 200n + was) / (2n * was);
  return `${off}%`;
}

/** The helper's result (any JSON value) for the template; `config` is an SDK `Config`. */
export function call(config, name, args) {
  const helper = { format_amount: formatAmount, percent_off: percentOff }[name];
  if (!helper) throw new InvalidInput(`no helper named ${JSON.stringify(name)}`);
  if (!Array.isArray(args)) throw new InvalidInput('arguments must be a JSON array');
  return helper(config, args);
}
