"""The plugin's logic, in plain Python (no WIT imports), so `python3 -m unittest` tests it
without WebAssembly. Money is decimal.Decimal, never float; amounts go back as strings.
`emporium_sdk` (copied beside this file) holds the money and config helpers.

Spend threshold: the basket qualifies when the lines in a category (or all lines) add up to
at least `min_total` including tax. It uses up those lines, so the same units do not count
towards another offer; units an earlier offer used up are not counted again."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from emporium_sdk import Config, ConfigError, amount_of, format_amount, round2


@dataclass(frozen=True)
class Decision:
    is_satisfied: bool
    # (line id, units) the condition uses up; empty when not satisfied.
    consumed: list
    upsell_message: Optional[str]


def in_category(categories, wanted: str) -> bool:
    """True when one of the product's category paths is `wanted` or lies below it."""
    return any(path == wanted or path.startswith(wanted + " > ") for path in categories)


def check(config: Config, input) -> Decision:
    min_total = config.decimal_or("min_total", "50")
    if min_total < 0:
        raise ConfigError(f"min_total: {config.get('min_total')!r} must be 0 or more")
    category = config.get("category")
    used = {}
    for c in input.already_consumed:
        used[c.line_id] = used.get(c.line_id, 0) + c.quantity
    eligible = []
    total = Decimal(0)
    for line in input.basket.lines:
        if category is not None and not in_category(line.product.categories, category):
            continue
        free = line.quantity - used.get(line.line_id, 0)
        if free <= 0:
            continue
        eligible.append((line.line_id, free))
        total += amount_of(line.unit_price_incl_tax) * free
    if eligible and total >= min_total:
        return Decision(True, eligible, None)
    missing = format_amount(round2(max(min_total - total, Decimal(0))))
    where = "" if category is None else f" on {category}"
    return Decision(False, [], f"Spend {missing} {input.basket.currency} more{where} to qualify")
