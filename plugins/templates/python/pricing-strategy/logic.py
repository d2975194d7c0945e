"""The plugin's logic, in plain Python (no WIT imports), so `python3 -m unittest` tests it
without WebAssembly. Money is decimal.Decimal, never float; amounts go back as strings.
`emporium_sdk` (copied beside this file) holds the money and config helpers.

Volume pricing: a percentage off the partner's price from a quantity on, plus tax."""

from dataclasses import dataclass
from typing import Optional

from emporium_sdk import Config, ConfigError, add_tax, amount_of, format_amount, percent_of, round2


@dataclass(frozen=True)
class Settings:
    discount_from: int
    discount_percent: int
    tax_percent: int

    @staticmethod
    def read(config: Config) -> "Settings":
        def whole(key, default, maximum):
            value = config.integer_or(key, default)
            if not 0 <= value <= maximum:
                raise ConfigError(f"{key}: {value} must be a whole number from 0 to {maximum}")
            return value

        return Settings(
            discount_from=whole("discount_from", 10, 2**32 - 1),
            discount_percent=whole("discount_percent", 5, 100),
            tax_percent=whole("tax_percent", 20, 100),
        )


@dataclass(frozen=True)
class Priced:
    """The decision for one product; `status` is the WIT `stock-status` case name."""

    product_id: str
    partner_id: Optional[str]
    excl_tax: Optional[str]
    incl_tax: Optional[str]
    status: str
    num_available: Optional[int]
    message: str


def unit_price(settings: Settings, partner_price, quantity: int):
    """(excluding tax, including tax) as Decimals rounded to 2 places."""
    excl = partner_price
    if quantity >= settings.discount_from:
        excl = partner_price - percent_of(partner_price, settings.discount_percent)
    excl = round2(excl)
    return excl, add_tax(excl, settings.tax_percent)


def price(settings: Settings, context, items) -> list[Priced]:
    """One decision per item, in order. The first stock record priced in the requested
    currency wins."""
    out = []
    for item in items:
        record = next(
            (
                s
                for s in item.stock_records
                if s.price_excl_tax is not None and s.price_excl_tax.currency == context.currency
            ),
            None,
        )
        if record is None:
            out.append(Priced(item.product.id, None, None, None, "unavailable", None, "Not available"))
            continue
        excl, incl = unit_price(settings, amount_of(record.price_excl_tax), context.quantity)
        available = None
        if record.num_in_stock is not None:
            available = max(record.num_in_stock - record.num_allocated, 0)
        in_stock = available != 0
        out.append(
            Priced(
                item.product.id,
                record.partner_id,
                format_amount(excl),
                format_amount(incl),
                "in-stock" if in_stock else "out-of-stock",
                available,
                "In stock" if in_stock else "Out of stock",
            )
        )
    return out
