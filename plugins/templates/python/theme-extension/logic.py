"""The plugin's logic, in plain Python (no WIT imports), so `python3 -m unittest` tests it
without WebAssembly. Money is decimal.Decimal, never float: amounts arrive as decimal strings.
`emporium_sdk` (copied beside this file) holds the money and config helpers.

Two template filters for prices:
    {{ "1234.5" | format_amount("GBP") }}   ->  £1,234.50
    {{ "20.00" | percent_off("15.00") }}    ->  25%
"""

from decimal import ROUND_HALF_UP, Decimal

from emporium_sdk import Config, InvalidInput, parse_amount, round2

# (name, kind, help): what `functions` lists; kind is the WIT `function-kind` case name.
HELPERS = [
    ("format_amount", "filter", '"1234.5" | format_amount("GBP") -> "£1,234.50"'),
    ("percent_off", "filter", '"20.00" | percent_off("15.00") -> "25%"'),
]

SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


def amount_arg(name: str, args: list, i: int) -> Decimal:
    """Argument `i` as an amount. Only decimal strings: a JSON number may already have lost
    cents on its way through a float."""
    if i >= len(args):
        raise InvalidInput(f"{name}: missing argument {i + 1}")
    value = args[i]
    if not isinstance(value, str):
        raise InvalidInput(f'{name}: argument {i + 1} must be a decimal string like "12.50"')
    try:
        return parse_amount(value.strip())
    except InvalidInput:
        raise InvalidInput(f"{name}: argument {i + 1}, {value!r}, is not a decimal amount") from None


def group(digits: str, separator: str) -> str:
    """"1234567" -> "1,234,567"."""
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return separator.join(parts)


def format_amount(config: Config, args: list) -> str:
    amount = round2(amount_arg("format_amount", args, 0))
    currency = args[1] if len(args) > 1 else None
    if currency is not None and not isinstance(currency, str):
        raise InvalidInput("format_amount: the currency must be a code like \"GBP\"")
    whole, cents = format(abs(amount), "f").split(".")
    number = f"{group(whole, config.string_or('thousands_separator', ','))}.{cents}"
    sign = "-" if amount < 0 else ""
    if currency in SYMBOLS:
        return f"{sign}{SYMBOLS[currency]}{number}"
    return f"{sign}{number} {currency}" if currency else f"{sign}{number}"


def percent_off(config: Config, args: list) -> str:
    was = amount_arg("percent_off", args, 0)
    now = amount_arg("percent_off", args, 1)
    if was <= 0:
        raise InvalidInput("percent_off: the old price must be more than 0")
    off = max((was - now) * 100 / was, Decimal(0))
    return f"{off.quantize(Decimal(1), rounding=ROUND_HALF_UP)}%"


def call(config: Config, name: str, args: list):
    """The helper's result (any JSON value) for the template."""
    helper = {"format_amount": format_amount, "percent_off": percent_off}.get(name)
    if helper is None:
        raise InvalidInput(f"no helper named {name!r}")
    if not isinstance(args, list):
        raise InvalidInput("arguments must be a JSON array")
    return helper(config, args)
