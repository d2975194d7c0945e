"""Generated test for {{id}}: `python3 -m unittest -v` in this folder."""

import unittest

import logic
from emporium_sdk import Config, ConfigError


def config(**values):
    return Config(values.get)


class AuthorizeTest(unittest.TestCase):
    def test_test_numbers_decide(self):
        self.assertEqual(logic.authorize(config(), "4242 4242 4242 4242", "10.00", "1"), logic.Approved("sandbox-1"))
        self.assertEqual(logic.authorize(config(), "4000000000000002", "10.00", "1"), logic.Declined("Your card was declined."))
        self.assertIn("invalid", logic.authorize(config(), "4242424242424241", "10.00", "1").message)
        self.assertIn("required", logic.authorize(config(), None, "10.00", "1").message)

    def test_limit(self):
        self.assertIn("limit", logic.authorize(config(limit="50"), "4242424242424242", "100.00", "1").message)
        self.assertIsInstance(logic.authorize(config(limit="50"), "4242424242424242", "50.00", "1"), logic.Approved)

    def test_bad_config_names_the_key(self):
        with self.assertRaisesRegex(ConfigError, "^limit:"):
            logic.authorize(config(limit="lots"), "4242424242424242", "1.00", "1")


if __name__ == "__main__":
    unittest.main()
