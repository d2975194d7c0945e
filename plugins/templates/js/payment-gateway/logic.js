// The plugin's logic as a plain ES module (no WIT imports), so `node --test` tests it without
// WebAssembly. Money is never a JavaScript number: amounts are decimal strings, compared
// exactly by the SDK (emporium-sdk.js, copied beside this file).
//
// A sandbox card gateway: test card numbers decide the outcome, no money moves. A real gateway
// would call its provider here with fetch() (the payment-gateway world may make HTTP requests
// to the hosts its manifest declares).

import { ConfigError, compareAmounts } from './emporium-sdk.js';

export const DECLINED_CARD = '4000000000000002';

/** Whether `number` (digits and spaces) passes the Luhn check. */
export function luhnValid(number) {
  const compact = number.replaceAll(' ', '');
  if (compact.length < 12 || !/^[0-9]+$/.test(compact)) return false;
  let sum = 0;
  [...compact].reverse().forEach((ch, i) => {
    let d = Number(ch);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  });
  return sum % 10 === 0;
}

/**
 * 4000 0000 0000 0002 is declined, any other Luhn-valid number approved (up to `limit`).
 * Returns { approved: reference } or { declined: message shown to the customer }.
 */
export function authorize(config, cardNumber, amount, orderNumber) {
  const limit = config.decimalOr('limit', undefined);
  if (limit !== undefined && compareAmounts(limit, '0') < 0) throw new ConfigError(`limit: ${JSON.stringify(limit)} must be 0 or more`);
  if (cardNumber === undefined) return { declined: 'A card is required.' };
  const compact = cardNumber.replaceAll(' ', '');
  if (compact === DECLINED_CARD) return { declined: 'Your card was declined.' };
  if (!luhnValid(compact)) return { declined: 'The card number is invalid.' };
  if (limit !== undefined && compareAmounts(amount, limit) > 0) return { declined: "The amount is over this card's limit." };
  return { approved: `sandbox-${orderNumber}` };
}
