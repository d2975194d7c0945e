"""Generated test for {{id}}: `python3 -m unittest -v` in this folder."""

import unittest
from types import SimpleNamespace as NS

import logic
from emporium_sdk import Config, ConfigError


def request(total="20.00", country="GB"):
    basket = NS(currency="GBP", lines=[], total_incl_tax=NS(amount=total, currency="GBP"))
    return NS(basket=basket, customer=NS(), address=None if country is None else NS(country=country))


def config(**values):
    values = {"charge": "4.95", **values}
    return Config(values.get)


class QuoteTest(unittest.TestCase):
    def test_flat_charge(self):
        (q,) = logic.quote(config(), request())
        self.assertEqual(q.charge, "4.95")

    def test_free_over(self):
        (q,) = logic.quote(config(free_over="50"), request(total="50.00"))
        self.assertEqual(q.charge, "0")
        (q,) = logic.quote(config(free_over="50"), request(total="49.99"))
        self.assertEqual(q.charge, "4.95")

    def test_no_address_no_quote(self):
        self.assertEqual(logic.quote(config(), request(country=None)), [])

    def test_bad_config_names_the_key(self):
        for bad in ["cheap", "-1"]:
            with self.assertRaisesRegex(ConfigError, "^charge:"):
                logic.quote(config(charge=bad), request())


if __name__ == "__main__":
    unittest.main()
