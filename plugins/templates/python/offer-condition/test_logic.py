"""Generated test for {{id}}: `python3 -m unittest -v` in this folder."""

import unittest
from types import SimpleNamespace as NS

import logic
from emporium_sdk import Config, ConfigError


def line(line_id, quantity, unit_incl="12.00", category="Books"):
    return NS(
        line_id=line_id,
        quantity=quantity,
        product=NS(categories=[category]),
        unit_price_incl_tax=NS(amount=unit_incl, currency="GBP"),
    )


def condition(lines, consumed=()):
    return NS(
        basket=NS(currency="GBP", lines=lines),
        customer=NS(),
        already_consumed=[NS(line_id=i, quantity=q) for i, q in consumed],
    )


def config(**values):
    return Config(values.get)


class CheckTest(unittest.TestCase):
    def test_spend_threshold_consumes_the_lines(self):
        d = logic.check(config(), condition([line("a", 3), line("b", 2)]))
        self.assertEqual((d.is_satisfied, d.consumed), (True, [("a", 3), ("b", 2)]))

    def test_below_the_threshold_nudges(self):
        d = logic.check(config(), condition([line("a", 1)]))
        self.assertFalse(d.is_satisfied)
        self.assertEqual(d.consumed, [])
        self.assertEqual(d.upsell_message, "Spend 38.00 GBP more to qualify")

    def test_units_used_by_earlier_offers_do_not_count(self):
        d = logic.check(config(), condition([line("a", 5)], consumed=[("a", 2)]))
        self.assertEqual(d.upsell_message, "Spend 14.00 GBP more to qualify")
        d = logic.check(config(min_total="36"), condition([line("a", 5)], consumed=[("a", 2)]))
        self.assertEqual(d.consumed, [("a", 3)])

    def test_category_and_its_subcategories(self):
        lines = [line("a", 5, category="Books > Crime"), line("b", 5, category="Music")]
        d = logic.check(config(category="Books"), condition(lines))
        self.assertEqual(d.consumed, [("a", 5)])
        d = logic.check(config(category="Music > Jazz"), condition(lines))
        self.assertEqual(d.upsell_message, "Spend 50.00 GBP more on Music > Jazz to qualify")

    def test_bad_config_names_the_key(self):
        with self.assertRaisesRegex(ConfigError, "^min_total:"):
            logic.check(config(min_total="lots"), condition([]))


if __name__ == "__main__":
    unittest.main()
