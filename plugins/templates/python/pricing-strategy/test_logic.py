"""Generated test for {{id}}: `python3 -m unittest -v` in this folder."""

import unittest
from types import SimpleNamespace as NS

import logic
from emporium_sdk import Config, ConfigError


def settings(**values):
    return logic.Settings.read(Config(values.get))


def item(product_id="p1", price="10.00", currency="GBP", in_stock=20, allocated=0):
    record = NS(
        partner_id="warehouse",
        price_excl_tax=None if price is None else NS(amount=price, currency=currency),
        num_in_stock=in_stock,
        num_allocated=allocated,
    )
    return NS(product=NS(id=product_id), stock_records=[record])


def context(quantity=1, currency="GBP"):
    return NS(customer=NS(), currency=currency, quantity=quantity)


class PriceTest(unittest.TestCase):
    def test_discount_from_the_quantity_then_tax(self):
        (one,) = logic.price(settings(), context(1), [item()])
        self.assertEqual((one.excl_tax, one.incl_tax, one.status), ("10.00", "12.00", "in-stock"))
        (ten,) = logic.price(settings(), context(10), [item()])
        self.assertEqual((ten.excl_tax, ten.incl_tax), ("9.50", "11.40"))

    def test_stock_and_currency_decide_availability(self):
        out, other, unpriced = logic.price(
            settings(),
            context(),
            [item(in_stock=3, allocated=3), item("p2", currency="EUR"), item("p3", price=None)],
        )
        self.assertEqual((out.status, out.num_available), ("out-of-stock", 0))
        self.assertEqual((other.status, other.excl_tax), ("unavailable", None))
        self.assertEqual(unpriced.status, "unavailable")

    def test_bad_settings_name_the_key(self):
        with self.assertRaisesRegex(ConfigError, "^discount_percent:"):
            settings(discount_percent="200")
        with self.assertRaisesRegex(ConfigError, "^tax_percent:"):
            settings(tax_percent="lots")


if __name__ == "__main__":
    unittest.main()
