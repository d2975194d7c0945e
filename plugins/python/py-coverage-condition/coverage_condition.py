"""Coverage condition: the basket qualifies when it holds at least `min_distinct` different
products. Pure logic, no WIT imports, so it runs (and is unit-tested) under plain CPython.

Only units no earlier offer used up (`already-consumed`) count. When satisfied, the condition
uses up one unit of each of the first `min_distinct` different products, taking lines in the
order the basket lists them (the host lists them by line id; ids are opaque, so the plugin does
not sort them itself). One unit per product is all the condition needs, so the rest of the
basket stays available to other offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

ConfigGet = Callable[[str], Optional[str]]

DEFAULT_MIN_DISTINCT = 3
# More different products than any basket holds: a typo, not a real rule.
MAX_MIN_DISTINCT = 10_000


class ConfigError(Exception):
    """The plugin's configuration is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class Decision:
    is_satisfied: bool
    # (line id, units) the condition uses up; empty when not satisfied.
    consumed: list[tuple[str, int]]
    upsell_message: Optional[str]


def load_min_distinct(config: ConfigGet) -> int:
    text = config("min_distinct")
    if text is None or not text.strip():
        return DEFAULT_MIN_DISTINCT
    t = text.strip()
    # str.isdigit() accepts "²" and other digits int() refuses: check ASCII digits only.
    if not (t.isascii() and t.isdigit()) or not 1 <= int(t) <= MAX_MIN_DISTINCT:
        raise ConfigError(
            f"min_distinct: {text!r} must be a whole number from 1 to {MAX_MIN_DISTINCT}"
        )
    return int(t)


def upsell(missing: int) -> str:
    noun = "different product" if missing == 1 else "different products"
    return f"Add {missing} more {noun} to qualify."


def check(config: ConfigGet, input) -> Decision:
    """Decides for `input` (a WIT `condition-input`, or anything shaped like one)."""
    min_distinct = load_min_distinct(config)
    used: dict[str, int] = {}
    for c in input.already_consumed:
        used[c.line_id] = used.get(c.line_id, 0) + c.quantity

    seen: set[str] = set()
    consumed: list[tuple[str, int]] = []
    for line in input.basket.lines:
        if line.quantity - used.get(line.line_id, 0) <= 0:
            continue  # every unit of this line already counted for another offer
        product = line.product.id
        if product in seen:
            continue  # the same product on a second line (other options) adds no coverage
        seen.add(product)
        if len(consumed) < min_distinct:
            consumed.append((line.line_id, 1))

    if len(seen) >= min_distinct:
        return Decision(True, consumed, None)
    return Decision(False, [], upsell(min_distinct - len(seen)))
