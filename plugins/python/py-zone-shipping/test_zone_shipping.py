"""Unit tests of the pure logic, under plain CPython (no WebAssembly):

    python3 -m unittest -v        (from this folder)

The same plugin is tested as a component, through the host's runtime, in tests/plugins_polyglot.rs.
"""

import unittest
from types import SimpleNamespace as NS

import zone_shipping
from zone_shipping import ConfigError, quote

CONFIG = {
    "currency": "GBP",
    "zones": "GB=4.95; IE=6.50; FR,DE,NL=9.90; *=24.00",
    "free_over": "50",
    "per_kg": "1.25",
    "tax_rate": "20",
}


def config(overrides=None):
    values = dict(CONFIG, **(overrides or {}))
    return lambda key: values.get(key)


def line(grams, requires_shipping=True):
    return NS(weight_grams=grams, product=NS(requires_shipping=requires_shipping))


def request(country="GB", total="20.00", currency="GBP", lines=None):
    lines = [line(1500)] if lines is None else lines
    basket = NS(
        currency=currency,
        lines=lines,
        total_incl_tax=NS(amount=total, currency=currency),
        total_weight_grams=sum(l.weight_grams for l in lines),
    )
    address = None if country is None else NS(country=country)
    return NS(basket=basket, customer=NS(), address=address)


class QuoteTest(unittest.TestCase):
    def test_zone_charge_plus_started_kilograms_with_tax(self):
        (q,) = quote(config(), request("GB"))
        # 4.95 + 2 started kg x 1.25 = 7.45; +20 % = 8.94
        self.assertEqual(q.charge_excl_tax, "7.45")
        self.assertEqual(q.charge_incl_tax, "8.94")
        self.assertEqual(q.code, "zone-standard")
        self.assertIn("add 30.00 more", q.description)

    def test_rest_of_world_and_grouped_countries(self):
        self.assertEqual(quote(config(), request("DE"))[0].charge_excl_tax, "12.40")
        self.assertEqual(quote(config(), request("us"))[0].charge_excl_tax, "26.50")

    def test_free_over_threshold_is_inclusive(self):
        (q,) = quote(config(), request("FR", total="50.00"))
        self.assertEqual((q.charge_excl_tax, q.charge_incl_tax), ("0", "0"))

    def test_no_quote_without_address_other_currency_or_unlisted_country(self):
        self.assertEqual(quote(config(), request(None)), [])
        self.assertEqual(quote(config(), request(currency="EUR")), [])
        self.assertEqual(quote(config({"zones": "GB=4.95"}), request("FR")), [])

    def test_nothing_to_ship(self):
        self.assertEqual(quote(config(), request(lines=[line(0, False)])), [])

    def test_decimal_exactness(self):
        c = config({"zones": "GB=0.10", "per_kg": "0.20", "tax_rate": "0", "free_over": ""})
        (q,) = quote(c, request(lines=[line(1)]))
        self.assertEqual(q.charge_excl_tax, "0.30")  # not 0.30000000000000004

    def test_bad_config_names_the_key(self):
        for overrides, key in [
            ({"zones": "GB:4.95"}, "zones"),
            ({"zones": "GBR=4.95"}, "zones"),
            ({"zones": "GB=4.95; GB=5"}, "zones"),
            ({"zones": "GB=abc"}, "zones"),
            ({"zones": "GB=-1"}, "zones"),
            ({"zones": ""}, "zones"),
            ({"free_over": "lots"}, "free_over"),
            ({"per_kg": "NaN"}, "per_kg"),
            ({"currency": "pounds"}, "currency"),
            ({"currency": None}, "currency"),
        ]:
            with self.subTest(overrides=overrides):
                with self.assertRaises(ConfigError) as ctx:
                    quote(config(overrides), request())
                self.assertTrue(str(ctx.exception).startswith(key + ":"), str(ctx.exception))

    def test_money_str_never_uses_exponents(self):
        from decimal import Decimal

        self.assertEqual(zone_shipping.money_str(Decimal("1E+2")), "100")
        self.assertEqual(zone_shipping.money_str(Decimal("0E-8")), "0")


if __name__ == "__main__":
    unittest.main()
