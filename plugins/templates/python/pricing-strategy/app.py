"""WIT glue: componentize-py loads this module and calls one class per exported interface.
Prices a whole page of products in one call."""

from wit_world import exports
from wit_world.exports import pricing
from wit_world.imports.types import Money

import logic
from emporium_sdk import Config, ConfigError, InvalidInput, Logger, plugin_error

STATUS = {
    "in-stock": pricing.StockStatus.IN_STOCK,
    "out-of-stock": pricing.StockStatus.OUT_OF_STOCK,
    "unavailable": pricing.StockStatus.UNAVAILABLE,
}


class Pricing(exports.Pricing):
    def price(self, context, items):
        try:
            decisions = logic.price(logic.Settings.read(Config.from_host()), context, items)
        except (ConfigError, InvalidInput) as e:
            raise plugin_error(e) from None
        Logger.from_host().debug(f"priced {len(decisions)} item(s)")
        currency = context.currency
        return [
            pricing.PricedItem(
                d.product_id,
                d.partner_id,
                None
                if d.excl_tax is None
                else pricing.UnitPrice(Money(d.excl_tax, currency), Money(d.incl_tax, currency)),
                pricing.Availability(STATUS[d.status], d.num_available, d.message),
            )
            for d in decisions
        ]
