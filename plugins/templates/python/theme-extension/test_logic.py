"""Generated test for {{id}}: `python3 -m unittest -v` in this folder."""

import unittest

import logic
from emporium_sdk import Config, InvalidInput


def config(**values):
    return Config(values.get)


class HelpersTest(unittest.TestCase):
    def test_format_amount(self):
        c = config()
        self.assertEqual(logic.call(c, "format_amount", ["1234.5", "GBP"]), "£1,234.50")
        self.assertEqual(logic.call(c, "format_amount", ["1234567.005", "CHF"]), "1,234,567.01 CHF")
        self.assertEqual(logic.call(c, "format_amount", ["-5", "USD"]), "-$5.00")
        self.assertEqual(logic.call(c, "format_amount", ["999"]), "999.00")
        self.assertEqual(logic.call(config(thousands_separator=" "), "format_amount", ["1000", "EUR"]), "€1 000.00")

    def test_percent_off(self):
        self.assertEqual(logic.call(config(), "percent_off", ["20.00", "15.00"]), "25%")
        self.assertEqual(logic.call(config(), "percent_off", ["3", "2"]), "33%")
        self.assertEqual(logic.call(config(), "percent_off", ["8", "7"]), "13%")
        self.assertEqual(logic.call(config(), "percent_off", ["10", "12"]), "0%")

    def test_bad_arguments_are_invalid_input(self):
        for name, args in [
            ("format_amount", ["Ada Lovelace"]),
            ("format_amount", [12.5, "GBP"]),
            ("percent_off", ["20.00"]),
            ("percent_off", ["0", "0"]),
            ("nope", []),
        ]:
            with self.assertRaises(InvalidInput, msg=f"{name}{args}"):
                logic.call(config(), name, args)


if __name__ == "__main__":
    unittest.main()
