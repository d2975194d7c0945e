// Exact decimal arithmetic for money, on BigInt: a value is { units: BigInt, scale: number },
// meaning units / 10^scale. Never a JavaScript number (a float) for an amount.
//
// Amounts cross the WIT boundary as strings in the `money.amount` format: an optional "-",
// digits, optionally "." and digits ("12", "12.5", "-3.99"). No exponent, no separators.

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

export class DecimalError extends Error {}

/** Parses a decimal string; throws DecimalError when it is not in the money format. */
export function parse(text) {
  const m = DECIMAL.exec(String(text).trim());
  if (!m) throw new DecimalError(`${JSON.stringify(text)} is not a decimal number`);
  const [, sign, int, frac = ''] = m;
  const units = BigInt(int + frac);
  return { units: sign ? -units : units, scale: frac.length };
}

function rescale(a, scale) {
  return a.scale === scale ? a.units : a.units * 10n ** BigInt(scale - a.scale);
}

export function add(a, b) {
  const scale = Math.max(a.scale, b.scale);
  return { units: rescale(a, scale) + rescale(b, scale), scale };
}

export function sub(a, b) {
  return add(a, { units: -b.units, scale: b.scale });
}

/** a × b, exact (scales add up). */
export function mul(a, b) {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** a × n for a whole number n (a BigInt or a safe integer). */
export function mulInt(a, n) {
  return { units: a.units * BigInt(n), scale: a.scale };
}

/** a × percent / 100, exact: dividing by 100 is moving the point two places. */
export function percentOf(a, percent) {
  const p = mul(a, percent);
  return { units: p.units, scale: p.scale + 2 };
}

/** -1, 0 or 1. */
export function cmp(a, b) {
  const scale = Math.max(a.scale, b.scale);
  const x = rescale(a, scale);
  const y = rescale(b, scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function isNegative(a) {
  return a.units < 0n;
}

/** The money format, without trailing fractional zeros: "8.94", "12", "0". */
export function format(a) {
  let { units, scale } = a;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale -= 1;
  }
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

export const ZERO = { units: 0n, scale: 0 };
