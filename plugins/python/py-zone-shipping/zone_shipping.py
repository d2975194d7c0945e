"""Zone shipping: a charge per destination zone, an optional charge per started kilogram, free
over a threshold. Pure logic, no WIT imports, so it runs (and is unit-tested) under plain CPython.

Money is `decimal.Decimal` throughout, never float. Amounts go back to the host as plain decimal
strings ("4.95", "0", "8.94"); the host rounds them to the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable, Optional

ConfigGet = Callable[[str], Optional[str]]

REST_OF_WORLD = "*"
GRAMS_PER_KG = 1000


class ConfigError(Exception):
    """The plugin's configuration is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class Quote:
    code: str
    name: str
    description: str
    charge_excl_tax: str
    charge_incl_tax: str


@dataclass(frozen=True)
class Settings:
    zones: dict[str, Decimal]  # country code (or "*") -> charge excl. tax
    currency: str
    free_over: Optional[Decimal]
    per_kg: Decimal
    tax_rate: Decimal  # percent
    code: str
    name: str


def money_str(d: Decimal) -> str:
    """A decimal as the WIT `money.amount` format: no exponent, no sign for zero."""
    if d == 0:
        return "0"
    return format(d, "f")


def parse_decimal(key: str, text: str, *, allow_negative: bool = False) -> Decimal:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise ConfigError(f"{key}: {text!r} is not a decimal number") from None
    if not d.is_finite():
        raise ConfigError(f"{key}: {text!r} is not a finite decimal number")
    if d < 0 and not allow_negative:
        raise ConfigError(f"{key}: {text!r} must not be negative")
    return d


def parse_zones(text: str) -> dict[str, Decimal]:
    """Parses "GB=4.95; IE=6.50; FR,DE,NL=9.90; *=24.00" into {country: charge}.

    Countries are ISO 3166-1 alpha-2 codes; "*" is every country not listed elsewhere. A country
    listed twice is an error (the admin surely meant something else).
    """
    zones: dict[str, Decimal] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ConfigError(f"zones: {part!r} should look like 'GB,IE=4.95'")
        countries, _, charge_text = part.partition("=")
        charge = parse_decimal("zones", charge_text)
        for country in countries.split(","):
            country = country.strip().upper()
            if country != REST_OF_WORLD and (len(country) != 2 or not country.isalpha()):
                raise ConfigError(
                    f"zones: {country!r} is not a two-letter country code or '*'"
                )
            if country in zones:
                raise ConfigError(f"zones: {country} is listed more than once")
            zones[country] = charge
    if not zones:
        raise ConfigError("zones: no zone is configured")
    return zones


def load_settings(config: ConfigGet) -> Settings:
    def required(key: str) -> str:
        value = config(key)
        if value is None or not value.strip():
            raise ConfigError(f"{key}: required but not set")
        return value

    def optional(key: str, default: Optional[str] = None) -> Optional[str]:
        value = config(key)
        if value is None or not value.strip():
            return default
        return value

    currency = required("currency").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ConfigError(f"currency: {currency!r} is not an ISO 4217 code")
    free_over = optional("free_over")
    return Settings(
        zones=parse_zones(required("zones")),
        currency=currency,
        free_over=None if free_over is None else parse_decimal("free_over", free_over),
        per_kg=parse_decimal("per_kg", optional("per_kg", "0")),
        tax_rate=parse_decimal("tax_rate", optional("tax_rate", "0")),
        code=optional("method_code", "zone-standard").strip(),
        name=optional("method_name", "Standard delivery").strip(),
    )


def started_kilograms(grams: int) -> int:
    return (grams + GRAMS_PER_KG - 1) // GRAMS_PER_KG


def quote(config: ConfigGet, request) -> list[Quote]:
    """Every quote for `request` (a WIT `shipping-request`, or anything shaped like one)."""
    settings = load_settings(config)
    basket = request.basket
    address = request.address
    if address is None:
        return []  # No destination yet: no zone, no estimate.
    if basket.currency.upper() != settings.currency:
        return []  # Charges are configured in one currency only.
    country = address.country.upper()
    base = settings.zones.get(country, settings.zones.get(REST_OF_WORLD))
    if base is None:
        return []  # We do not ship there.

    shipped_grams = sum(
        line.weight_grams for line in basket.lines if line.product.requires_shipping
    )
    if not any(line.product.requires_shipping for line in basket.lines):
        return []  # Nothing to ship; the shop offers its "no shipping required" method.

    total = Decimal(basket.total_incl_tax.amount)
    if settings.free_over is not None and total >= settings.free_over:
        excl = Decimal(0)
        description = f"Free delivery on orders over {money_str(settings.free_over)} {settings.currency}"
    else:
        excl = base + settings.per_kg * started_kilograms(shipped_grams)
        description = f"Delivery to {country}"
        if settings.free_over is not None:
            missing = settings.free_over - total
            description += f"; free on orders over {money_str(settings.free_over)} {settings.currency} (add {money_str(missing)} more)"
    incl = excl * (100 + settings.tax_rate) / 100
    return [
        Quote(
            code=settings.code,
            name=settings.name,
            description=description,
            charge_excl_tax=money_str(excl),
            charge_incl_tax=money_str(incl),
        )
    ]
