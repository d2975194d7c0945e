"""The plugin's logic, in plain Python (no WIT imports), so `python3 -m unittest` tests it
without WebAssembly. Money is decimal.Decimal, never float; amounts go back as strings."""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable, Optional


class ConfigError(Exception):
    """A setting is missing or invalid; the message starts with its key."""


@dataclass(frozen=True)
class Quote:
    code: str
    name: str
    description: str
    charge: str


def decimal_setting(config: Callable[[str], Optional[str]], key: str) -> Optional[Decimal]:
    text = config(key)
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ConfigError(f"{key}: {text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{key}: {text!r} must be a decimal number, 0 or more")
    return value


def quote(config, request) -> list[Quote]:
    charge = decimal_setting(config, "charge")
    if charge is None:
        raise ConfigError("charge: required but not set")
    free_over = decimal_setting(config, "free_over")
    if request.address is None:
        return []
    total = Decimal(request.basket.total_incl_tax.amount)
    if free_over is not None and total >= free_over:
        charge = Decimal(0)
    return [Quote("flat", "Standard delivery", "Delivered in 2 to 4 working days", format(charge, "f"))]
