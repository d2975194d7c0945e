"""WIT glue for py-zone-shipping (world `shipping-method`): adapts the generated bindings to the
pure logic in zone_shipping.py.

componentize-py looks for a class named after each exported interface (`Shipping`) in this module.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.shipping import ShippingRequest
from wit_world.imports import host
from wit_world.imports.types import Money, PluginError_Config, ShippingQuote

import zone_shipping


class Shipping(exports.Shipping):
    def quote(self, request: ShippingRequest) -> list[ShippingQuote]:
        try:
            quotes = zone_shipping.quote(host.config_get, request)
        except zone_shipping.ConfigError as e:
            # A typed error the host reports as "plugin misconfigured", naming the key.
            raise Err(PluginError_Config(str(e)))
        # Anything else (a bug, input the plugin cannot read) propagates: the component traps
        # and the host turns that into a typed error naming this plugin; the shop keeps running.
        currency = request.basket.currency
        host.log(host.LogLevel.DEBUG, f"{len(quotes)} quote(s)")
        return [
            ShippingQuote(
                code=q.code,
                name=q.name,
                description=q.description,
                charge_excl_tax=Money(q.charge_excl_tax, currency),
                charge_incl_tax=Money(q.charge_incl_tax, currency),
            )
            for q in quotes
        ]
