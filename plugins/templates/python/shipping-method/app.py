"""WIT glue: componentize-py loads this module and calls one class per exported interface."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import Money, PluginError_Config, ShippingQuote

import logic


class Shipping(exports.Shipping):
    def quote(self, request):
        try:
            quotes = logic.quote(host.config_get, request)
        except logic.ConfigError as e:
            raise Err(PluginError_Config(str(e)))
        currency = request.basket.currency
        host.log(host.LogLevel.DEBUG, f"{len(quotes)} quote(s)")
        return [
            ShippingQuote(q.code, q.name, q.description, Money(q.charge, currency), Money(q.charge, currency))
            for q in quotes
        ]
