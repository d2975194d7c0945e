// Small helpers for Emporium plugins written in JavaScript: the same ones the Rust SDK
// (plugins/sdk/src/money.rs, config.rs, log.rs) offers.
//
// `emporium plugin new --lang js` copies this one ES module into the new project, beside
// `wit/`, so a project builds on its own; the build copies it into the component with the
// plugin's other modules.
//
// It imports nothing: the plugin's logic and its `node --test` tests run under plain node, and
// the host functions are passed in (`new Config(configGet)`, `new Logger(log)`) by app.js, the
// one module that imports `emporium:plugin/host`.
//
// Money is never a JavaScript number (0.1 + 0.2 !== 0.3): amounts stay decimal strings
// ("12.50") as the WIT `money` record carries them, and arithmetic on them is exact (BigInt).

/** A setting is missing or invalid; the message starts with its key. */
export class ConfigError extends Error {}

/** The input is something the plugin cannot handle. */
export class InvalidInput extends Error {}

/**
 * The WIT `plugin-error` for an exception, to `throw` from a function returning
 * `result<_, plugin-error>` (componentize-js returns a thrown `{ tag, val }` as `err`).
 * Other exceptions are thrown again: a bug should trap, not pass as a decision.
 */
export function toPluginError(e) {
  if (e instanceof ConfigError) return { tag: 'config', val: e.message };
  if (e instanceof InvalidInput) return { tag: 'invalid-input', val: e.message };
  throw e;
}

// ---- money -------------------------------------------------------------------------------

// What WIT calls a decimal amount: optional "-", digits, optional "." and digits. No exponent,
// no separators, no currency symbol.
const AMOUNT = /^-?[0-9]+(\.[0-9]+)?$/;

/** True when `text` is a plain decimal amount ("12", "-3.5", "0.10"). */
export function isAmount(text) {
  return typeof text === 'string' && AMOUNT.test(text);
}

/** Checks a plain decimal amount and returns it; throws InvalidInput otherwise. */
export function parseAmount(text) {
  if (!isAmount(text)) throw new InvalidInput(`${JSON.stringify(text)} is not a decimal amount`);
  return text;
}

// An exact decimal: `v` / 10^`s`. Whole numbers (integers or BigInt) are accepted as operands
// (a tax rate of 20, a quantity of 3); fractional JavaScript numbers are refused.
function dec(x) {
  if (typeof x === 'bigint' || Number.isSafeInteger(x)) x = String(x);
  parseAmount(x);
  const negative = x.startsWith('-');
  const [whole, frac = ''] = (negative ? x.slice(1) : x).split('.');
  const v = BigInt(whole + frac);
  return { v: negative ? -v : v, s: frac.length };
}

function text({ v, s }) {
  const negative = v < 0n;
  const digits = (negative ? -v : v).toString().padStart(s + 1, '0');
  const plain = s === 0 ? digits : `${digits.slice(0, -s)}.${digits.slice(-s)}`;
  return negative ? `-${plain}` : plain;
}

function rescale(a, s) {
  return a.v * 10n ** BigInt(s - a.s);
}

// Rounds to `places` decimals, half away from zero.
function round(a, places) {
  if (a.s <= places) return { v: rescale(a, places), s: places };
  const d = 10n ** BigInt(a.s - places);
  const abs = a.v < 0n ? -a.v : a.v;
  const q = abs / d + ((abs % d) * 2n >= d ? 1n : 0n);
  return { v: a.v < 0n ? -q : q, s: places };
}

/** Exact comparison of two amounts: -1, 0 or 1. */
export function compareAmounts(a, b) {
  const [x, y] = [dec(a), dec(b)];
  const s = Math.max(x.s, y.s);
  const [p, q] = [rescale(x, s), rescale(y, s)];
  return p < q ? -1 : p > q ? 1 : 0;
}

/** a + b, exactly ("0.10" + "0.2" = "0.30"). */
export function addAmounts(a, b) {
  const [x, y] = [dec(a), dec(b)];
  const s = Math.max(x.s, y.s);
  return text({ v: rescale(x, s) + rescale(y, s), s });
}

/** a - b, exactly. */
export function subtractAmounts(a, b) {
  const [x, y] = [dec(a), dec(b)];
  const s = Math.max(x.s, y.s);
  return text({ v: rescale(x, s) - rescale(y, s), s });
}

/** a × b, exactly (an amount times a quantity or a rate). */
export function multiplyAmount(a, b) {
  const [x, y] = [dec(a), dec(b)];
  return text({ v: x.v * y.v, s: x.s + y.s });
}

/**
 * Rounds to exactly 2 decimal places, half away from zero ("7" → "7.00", "1.005" → "1.01").
 * The host rounds again per currency; this is for plugins that show or compare amounts.
 */
export function round2(a) {
  return text(round(dec(a), 2));
}

/** An amount in hundredths (BigInt), rounded to 2 places first: "12.5" → 1250n. */
export function toMinor(a) {
  return round(dec(a), 2).v;
}

/** Hundredths (BigInt or a whole number) as an amount: 1250n → "12.50". */
export function fromMinor(minor) {
  return text({ v: BigInt(minor), s: 2 });
}

/** `percent` per cent of `amount`, rounded to 2 places ("20" means 20 %). */
export function percentOf(amount, percent) {
  const x = dec(amount);
  const p = dec(percent);
  // amount × percent / 100: the division by 100 is two more decimal places, exactly.
  return text(round({ v: x.v * p.v, s: x.s + p.s + 2 }, 2));
}

/** Adds `ratePercent` per cent of tax to an amount excluding tax, rounded to 2 places. */
export function addTax(exclTax, ratePercent) {
  const x = dec(exclTax);
  const p = dec(ratePercent);
  const tax = { v: x.v * p.v, s: x.s + p.s + 2 };
  return text(round({ v: rescale(x, tax.s) + tax.v, s: tax.s }, 2));
}

// ---- configuration -----------------------------------------------------------------------

/**
 * Typed access to the plugin's own configuration (the `[config]` schema of plugin.toml, filled
 * in by the shop administrator). `get` is the host's `configGet` inside the shop, or any
 * `key => string | undefined` function in a test. The host has validated values against the
 * schema already; these getters still turn a bad value into a ConfigError naming the key.
 * A value that is empty or only spaces counts as unset. Decimals come back as strings.
 */
export class Config {
  constructor(get) {
    this.raw = get;
  }

  /** The trimmed text of `key`, or undefined when unset. */
  get(key) {
    const value = this.raw(key);
    if (value === undefined || value === null || value.trim() === '') return undefined;
    return value.trim();
  }

  required(key) {
    const value = this.get(key);
    if (value === undefined) throw new ConfigError(`${key}: required but not set`);
    return value;
  }

  /** A decimal setting (money amounts, thresholds) as a decimal string. */
  decimal(key) {
    return checkDecimal(key, this.required(key));
  }

  decimalOr(key, fallback) {
    const value = this.get(key);
    return value === undefined ? fallback : checkDecimal(key, value);
  }

  /** A whole-number setting as a JavaScript number (safe integers only). */
  integer(key) {
    return checkInteger(key, this.required(key));
  }

  integerOr(key, fallback) {
    const value = this.get(key);
    return value === undefined ? fallback : checkInteger(key, value);
  }

  booleanOr(key, fallback) {
    const value = this.get(key);
    if (value === undefined) return fallback;
    if (value === 'true' || value === 'false') return value === 'true';
    throw new ConfigError(`${key}: ${JSON.stringify(value)} is not true or false`);
  }

  stringOr(key, fallback) {
    const value = this.raw(key);
    return value === undefined || value === null ? fallback : value;
  }
}

function checkDecimal(key, value) {
  if (!isAmount(value)) throw new ConfigError(`${key}: ${JSON.stringify(value)} is not a decimal number`);
  return value;
}

function checkInteger(key, value) {
  const n = Number(value);
  if (!/^-?[0-9]+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new ConfigError(`${key}: ${JSON.stringify(value)} is not a whole number`);
  }
  return n;
}

// ---- logging -----------------------------------------------------------------------------

/**
 * Writes to the shop's log, tagged with the plugin's id and version. `sink(level, message)` is
 * the host's `log` inside the shop (levels are 'trace', 'debug', 'info', 'warn', 'error').
 * Never log customer data, card data or secrets. The host keeps at most 64 messages per call.
 */
export class Logger {
  constructor(sink) {
    this.sink = sink;
  }

  log(level, message) {
    this.sink(level, message);
  }

  trace(message) {
    this.log('trace', message);
  }

  debug(message) {
    this.log('debug', message);
  }

  info(message) {
    this.log('info', message);
  }

  warn(message) {
    this.log('warn', message);
  }

  error(message) {
    this.log('error', message);
  }
}
