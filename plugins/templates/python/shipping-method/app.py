"""WIT glue: componentize-py loads this module and calls one class per exported interface."""

from wit_world import exports
from wit_world.imports.types import Money, ShippingQuote

import logic
from emporium_sdk import Config, ConfigError, InvalidInput, Logger, plugin_error


class Shipping(exports.Shipping):
    def quote(self, request):
        try:
            quotes = logic.quote(Config.from_host(), request)
        except (ConfigError, InvalidInput) as e:
            raise plugin_error(e) from None
        currency = request.basket.currency
        Logger.from_host().debug(f"{len(quotes)} quote(s)")
        return [
            ShippingQuote(q.code, q.name, q.description, Money(q.charge, currency), Money(q.charge, currency))
            for q in quotes
        ]
