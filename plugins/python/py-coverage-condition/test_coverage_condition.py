"""Unit tests of the pure logic, under plain CPython (no WebAssembly):

    python3 -m unittest -v        (from this folder)

The same plugin is tested as a component, through the shop's basket and checkout, in
tests/offers_polyglot.rs.
"""

import unittest
from types import SimpleNamespace as NS

from coverage_condition import ConfigError, check


def config(**values):
    return lambda key: values.get(key)


def line(line_id, product, quantity=1):
    return NS(line_id=line_id, quantity=quantity, product=NS(id=product))


def condition(lines, consumed=()):
    return NS(
        basket=NS(currency="GBP", lines=lines),
        customer=NS(),
        already_consumed=[NS(line_id=i, quantity=q) for i, q in consumed],
    )


class CheckTest(unittest.TestCase):
    def test_three_different_products_by_default_one_unit_each(self):
        d = check(config(), condition([line("1", "a", 2), line("2", "b"), line("3", "c", 5)]))
        self.assertTrue(d.is_satisfied)
        self.assertEqual(d.consumed, [("1", 1), ("2", 1), ("3", 1)])
        self.assertIsNone(d.upsell_message)

    def test_consumes_only_the_first_min_distinct_products(self):
        lines = [line("1", "a"), line("2", "b"), line("3", "c"), line("4", "d")]
        d = check(config(min_distinct="2"), condition(lines))
        self.assertEqual((d.is_satisfied, d.consumed), (True, [("1", 1), ("2", 1)]))

    def test_upsell_is_pluralised(self):
        d = check(config(), condition([line("1", "a", 4)]))
        self.assertFalse(d.is_satisfied)
        self.assertEqual(d.consumed, [])
        self.assertEqual(d.upsell_message, "Add 2 more different products to qualify.")
        d = check(config(), condition([line("1", "a"), line("2", "b")]))
        self.assertEqual(d.upsell_message, "Add 1 more different product to qualify.")
        d = check(config(), condition([]))
        self.assertEqual(d.upsell_message, "Add 3 more different products to qualify.")

    def test_the_same_product_on_two_lines_counts_once(self):
        lines = [line("1", "a"), line("2", "a"), line("3", "b")]
        d = check(config(), condition(lines))
        self.assertEqual(d.upsell_message, "Add 1 more different product to qualify.")

    def test_already_consumed_units_do_not_count(self):
        lines = [line("1", "a", 2), line("2", "b"), line("3", "c")]
        # Line 1 has a unit left: still three products, and that unit is the one used.
        d = check(config(), condition(lines, [("1", 1)]))
        self.assertEqual((d.is_satisfied, d.consumed), (True, [("1", 1), ("2", 1), ("3", 1)]))
        # Line 2 is used up (in two parts): only two products are left.
        d = check(config(), condition(lines, [("2", 1), ("2", 1)]))
        self.assertFalse(d.is_satisfied)
        self.assertEqual(d.upsell_message, "Add 1 more different product to qualify.")

    def test_a_used_up_line_lets_the_next_line_of_the_product_count(self):
        lines = [line("1", "a"), line("2", "a"), line("3", "b")]
        d = check(config(min_distinct="2"), condition(lines, [("1", 1)]))
        self.assertEqual(d.consumed, [("2", 1), ("3", 1)])

    def test_bad_config_names_the_key(self):
        for value in ["0", "-1", "2.5", "three", "²", "10001"]:
            with self.subTest(value=value):
                with self.assertRaises(ConfigError) as ctx:
                    check(config(min_distinct=value), condition([]))
                self.assertTrue(str(ctx.exception).startswith("min_distinct:"))

    def test_empty_config_means_the_default(self):
        d = check(config(min_distinct=" "), condition([line("1", "a")]))
        self.assertEqual(d.upsell_message, "Add 2 more different products to qualify.")


if __name__ == "__main__":
    unittest.main()
