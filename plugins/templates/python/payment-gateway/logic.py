"""The plugin's logic, in plain Python (no WIT imports), so `python3 -m unittest` tests it
without WebAssembly. Money is decimal.Decimal, never float.
`emporium_sdk` (copied beside this file) holds the money and config helpers.

A sandbox card gateway: test card numbers decide the outcome, no money moves. A real gateway
would call its provider here (the payment-gateway world may make HTTP requests to the hosts
its manifest declares)."""

from dataclasses import dataclass
from typing import Optional, Union

from emporium_sdk import Config, ConfigError, parse_amount

DECLINED_CARD = "4000000000000002"


@dataclass(frozen=True)
class Approved:
    reference: str


@dataclass(frozen=True)
class Declined:
    # Shown to the customer: short and free of internal detail.
    message: str


def luhn_valid(number: str) -> bool:
    """Whether `number` (digits and spaces) passes the Luhn check."""
    compact = number.replace(" ", "")
    if len(compact) < 12 or not compact.isascii() or not compact.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(compact)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def authorize(config: Config, card_number: Optional[str], amount: str, order_number: str) -> Union[Approved, Declined]:
    """4000 0000 0000 0002 is declined, any other Luhn-valid number approved (up to `limit`)."""
    limit = config.decimal_or("limit", None)
    if limit is not None and limit < 0:
        raise ConfigError(f"limit: {config.get('limit')!r} must be 0 or more")
    if card_number is None:
        return Declined("A card is required.")
    compact = card_number.replace(" ", "")
    if compact == DECLINED_CARD:
        return Declined("Your card was declined.")
    if not luhn_valid(compact):
        return Declined("The card number is invalid.")
    if limit is not None and parse_amount(amount) > limit:
        return Declined("The amount is over this card's limit.")
    return Approved(f"sandbox-{order_number}")
