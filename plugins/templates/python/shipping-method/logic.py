"""The plugin's logic, in plain Python (no WIT imports), so `python3 -m unittest` tests it
without WebAssembly. Money is decimal.Decimal, never float; amounts go back as strings.
`emporium_sdk` (copied beside this file) holds the money and config helpers."""

from dataclasses import dataclass
from decimal import Decimal

from emporium_sdk import Config, ConfigError, amount_of, format_amount


@dataclass(frozen=True)
class Quote:
    code: str
    name: str
    description: str
    charge: str


def non_negative(config: Config, key: str, value):
    if value is not None and value < 0:
        raise ConfigError(f"{key}: {config.get(key)!r} must be a decimal number, 0 or more")
    return value


def quote(config: Config, request) -> list[Quote]:
    charge = non_negative(config, "charge", config.decimal("charge"))
    free_over = non_negative(config, "free_over", config.decimal_or("free_over", None))
    if request.address is None:
        return []
    if free_over is not None and amount_of(request.basket.total_incl_tax) >= free_over:
        charge = Decimal(0)
    return [Quote("flat", "Standard delivery", "Delivered in 2 to 4 working days", format_amount(charge))]
