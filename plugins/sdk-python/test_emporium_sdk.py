"""Tests of the Python SDK: `python3 -m unittest -v` in plugins/sdk-python (xtask runs them
before it builds the Python templates)."""

import unittest
from decimal import Decimal
from types import SimpleNamespace as NS

from emporium_sdk import (
    Config,
    ConfigError,
    InvalidInput,
    Logger,
    add_tax,
    amount_of,
    format_amount,
    parse_amount,
    percent_of,
    round2,
)


class MoneyTest(unittest.TestCase):
    def test_round_trips_without_floats(self):
        self.assertEqual(format_amount(parse_amount("10.50")), "10.50")
        self.assertEqual(amount_of(NS(amount="0.10", currency="EUR")), Decimal("0.10"))
        self.assertEqual(parse_amount("-3.5"), Decimal("-3.5"))

    def test_rejects_exponents_and_junk(self):
        for text in ["1e3", "", "1,000", "€5", " 1", "NaN", "Infinity", "1.", 5]:
            with self.assertRaises(InvalidInput, msg=repr(text)):
                parse_amount(text)

    def test_rounds_half_up_to_two_places(self):
        self.assertEqual(format_amount(round2(Decimal("7"))), "7.00")
        self.assertEqual(round2(Decimal("1.005")), Decimal("1.01"))
        self.assertEqual(round2(Decimal("-1.005")), Decimal("-1.01"))
        self.assertEqual(add_tax(Decimal("10.00"), 20), Decimal("12.00"))
        self.assertEqual(add_tax(Decimal("1.25"), 20), Decimal("1.50"))
        self.assertEqual(percent_of(Decimal("9.99"), 5), Decimal("0.50"))


class ConfigTest(unittest.TestCase):
    def config(self, **values):
        return Config(values.get)

    def test_typed_getters(self):
        c = self.config(threshold=" 12.50 ", count="3", flag="true", name="x", blank="  ")
        self.assertEqual(c.decimal("threshold"), Decimal("12.50"))
        self.assertEqual(c.integer("count"), 3)
        self.assertTrue(c.boolean_or("flag", False))
        self.assertEqual(c.string_or("name", "y"), "x")
        self.assertEqual(c.decimal_or("blank", "4.95"), Decimal("4.95"))
        self.assertEqual(c.integer_or("missing", 7), 7)
        self.assertIsNone(c.get("missing"))

    def test_errors_name_the_key(self):
        c = self.config(threshold="ten", count="1.5", flag="yes")
        for call, key in [
            (lambda: c.decimal("threshold"), "threshold"),
            (lambda: c.integer("count"), "count"),
            (lambda: c.boolean_or("flag", False), "flag"),
            (lambda: c.required("missing"), "missing"),
        ]:
            with self.assertRaisesRegex(ConfigError, f"^{key}:"):
                call()


class LoggerTest(unittest.TestCase):
    def test_levels_reach_the_sink(self):
        seen = []
        log = Logger(lambda level, message: seen.append((level, message)))
        log.debug("a")
        log.warn("b")
        self.assertEqual(seen, [("debug", "a"), ("warn", "b")])


if __name__ == "__main__":
    unittest.main()
