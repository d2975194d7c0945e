// Money as exact minor units (pence, cents) on BigInt: never a JavaScript number for an amount.
//
// Amounts cross the WIT boundary as decimal strings (`money.amount`: an optional "-", digits,
// optionally "." and digits; no exponent, no separators) with an ISO 4217 currency code. The
// types give no currency's number of minor digits, so it comes from ISO 4217 here: 2 unless the
// currency is listed below.

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

/** ISO 4217 currencies whose minor unit is not a hundredth. */
const MINOR_DIGITS = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0,
  UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  CLF: 4, UYW: 4,
};

export class DecimalError extends Error {}

/** Digits after the point in `currency`'s minor unit (2 for GBP, 0 for JPY, 3 for KWD). */
export function minorDigits(currency) {
  return MINOR_DIGITS[String(currency).toUpperCase()] ?? 2;
}

/**
 * `text` (the money format) as a BigInt count of minor units with `digits` decimals: "12.5" with
 * 2 digits is 1250n. Throws DecimalError when `text` is not in the money format, or has non-zero
 * digits below the minor unit ("0.005" pounds): rounding them would not be exact.
 */
export function toMinor(text, digits) {
  const m = DECIMAL.exec(String(text).trim());
  if (!m) throw new DecimalError(`${JSON.stringify(text)} is not a decimal number`);
  const [, sign, int, frac = ''] = m;
  if (/[1-9]/.test(frac.slice(digits))) {
    throw new DecimalError(`${JSON.stringify(text)} has more than ${digits} decimal places`);
  }
  const units = BigInt(int + frac.slice(0, digits).padEnd(digits, '0'));
  return sign ? -units : units;
}

/** Minor units as a decimal with exactly `digits` decimals: 50n, 2 -> "0.50"; 7n, 0 -> "7". */
export function formatMinor(minor, digits) {
  const negative = minor < 0n;
  let text = (negative ? -minor : minor).toString();
  if (digits > 0) {
    text = text.padStart(digits + 1, '0');
    text = `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  }
  return negative ? `-${text}` : text;
}
