"""Small helpers for Emporium plugins written in Python: the same ones the Rust SDK
(plugins/sdk/src/money.rs, config.rs, log.rs) offers.

`emporium plugin new --lang python` copies this one file into the new project, beside `wit/`,
so a project builds on its own; componentize-py packs it into the component with the plugin's
other modules.

Nothing here imports the WIT bindings at module level: the plugin's logic and its unit tests
run under plain CPython, and the host functions are passed in (`Config(host.config_get)`,
`Logger.from_host()`), or imported only when called inside the component.

Money is never a float: amounts are `decimal.Decimal` inside the plugin and plain decimal
strings ("12.50") on the wire, as the WIT `money` record says.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "Config",
    "ConfigError",
    "InvalidInput",
    "Logger",
    "add_tax",
    "amount_of",
    "format_amount",
    "plugin_error",
    "parse_amount",
    "percent_of",
    "round2",
]


class ConfigError(Exception):
    """A setting is missing or invalid. The message starts with the key, so the shop
    administrator sees which field to fix. Map it to `PluginError_Config`."""


class InvalidInput(Exception):
    """The input is something the plugin cannot handle. Map it to `PluginError_InvalidInput`."""


def plugin_error(e):
    """The WIT `plugin-error` for a ConfigError or InvalidInput, as the `Err` componentize-py
    returns when it is raised from a function returning `result<_, plugin-error>`; None for any
    other exception (a bug should trap, not pass as a decision). Only works inside the
    component: `except (ConfigError, InvalidInput) as e: raise plugin_error(e)`."""
    from componentize_py_types import Err  # noqa: PLC0415 (only exists in the component)
    from wit_world.imports import types  # noqa: PLC0415

    if isinstance(e, ConfigError):
        return Err(types.PluginError_Config(str(e)))
    if isinstance(e, InvalidInput):
        return Err(types.PluginError_InvalidInput(str(e)))
    return None


# ---- money --------------------------------------------------------------------------------

# What WIT calls a decimal amount: optional "-", digits, optional "." and digits. No exponent,
# no separators, no currency symbol (Decimal() alone would accept "1e3", "NaN" and " 1 ").
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_CENT = Decimal("0.01")


def parse_amount(text):
    """Parses a plain decimal amount ("12", "-3.5", "0.10"); raises InvalidInput otherwise."""
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
        raise InvalidInput(f"{text!r} is not a decimal amount")
    return Decimal(text)


def amount_of(money):
    """The amount of a WIT `money` record (anything with an `.amount` string) as a Decimal."""
    return parse_amount(money.amount)


def format_amount(amount):
    """Writes a Decimal in plain notation with its scale kept (Decimal("12.50") -> "12.50"),
    never with an exponent, as WIT expects."""
    return format(amount, "f")


def round2(amount):
    """Rounds to exactly 2 decimal places, half away from zero (what shoppers expect for
    prices): 7 -> 7.00, 1.005 -> 1.01. The host rounds again per currency; this is for
    plugins that show or compare amounts."""
    return Decimal(amount).quantize(_CENT, rounding=ROUND_HALF_UP)


def percent_of(amount, percent):
    """`percent` per cent of `amount`, rounded to 2 places ("20" means 20 %)."""
    return round2(Decimal(amount) * Decimal(percent) / 100)


def add_tax(excl_tax, rate_percent):
    """Adds `rate_percent` per cent of tax to an amount excluding tax, rounded to 2 places."""
    excl = Decimal(excl_tax)
    return round2(excl + excl * Decimal(rate_percent) / 100)


# ---- configuration ------------------------------------------------------------------------


class Config:
    """Typed access to the plugin's own configuration (the `[config]` schema of plugin.toml,
    filled in by the shop administrator). `get` is the host's `config_get` inside the shop, or
    any `key -> str | None` function in a test. The host has validated values against the
    schema already; these getters still turn a bad value into a ConfigError naming the key.
    A value that is empty or only spaces counts as unset."""

    def __init__(self, get):
        self._get = get

    @classmethod
    def from_host(cls):
        """The configuration the shop set for this plugin (only works inside the component)."""
        from wit_world.imports import host  # noqa: PLC0415 (only exists in the component)

        return cls(host.config_get)

    def get(self, key):
        """The raw text of `key`, or None when neither the administrator nor a default set it."""
        value = self._get(key)
        if value is None or not value.strip():
            return None
        return value.strip()

    def required(self, key):
        value = self.get(key)
        if value is None:
            raise ConfigError(f"{key}: required but not set")
        return value

    def decimal(self, key):
        """A decimal setting (money amounts, thresholds); never goes through a float."""
        return self._decimal(key, self.required(key))

    def decimal_or(self, key, default):
        """A decimal setting, or `default` (a Decimal, a decimal string, or None) when unset."""
        value = self.get(key)
        if value is None:
            return None if default is None else Decimal(default)
        return self._decimal(key, value)

    def integer(self, key):
        return self._integer(key, self.required(key))

    def integer_or(self, key, default):
        value = self.get(key)
        return default if value is None else self._integer(key, value)

    def boolean_or(self, key, default):
        value = self.get(key)
        if value is None:
            return default
        if value in ("true", "false"):
            return value == "true"
        raise ConfigError(f"{key}: {value!r} is not true or false")

    def string_or(self, key, default):
        value = self._get(key)
        return default if value is None else value

    @staticmethod
    def _decimal(key, text):
        if not _AMOUNT.fullmatch(text):
            raise ConfigError(f"{key}: {text!r} is not a decimal number")
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ConfigError(f"{key}: {text!r} is not a decimal number") from None

    @staticmethod
    def _integer(key, text):
        if not re.fullmatch(r"-?[0-9]+", text):
            raise ConfigError(f"{key}: {text!r} is not a whole number")
        return int(text)


# ---- logging ------------------------------------------------------------------------------


class Logger:
    """Writes to the shop's log, tagged with the plugin's id and version. `sink(level, message)`
    receives the level as a name ("debug", "info", "warn", "error", "trace"). Never log
    customer data, card data or secrets. The host keeps at most 64 messages per call."""

    def __init__(self, sink):
        self._sink = sink

    @classmethod
    def from_host(cls):
        """A logger writing through the host's `log` (only works inside the component)."""
        from wit_world.imports import host  # noqa: PLC0415 (only exists in the component)

        return cls(lambda level, message: host.log(getattr(host.LogLevel, level.upper()), message))

    def log(self, level, message):
        self._sink(level, message)

    def trace(self, message):
        self.log("trace", message)

    def debug(self, message):
        self.log("debug", message)

    def info(self, message):
        self.log("info", message)

    def warn(self, message):
        self.log("warn", message)

    def error(self, message):
        self.log("error", message)
