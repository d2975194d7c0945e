"""WIT glue: componentize-py loads this module and calls one class per exported interface."""

from wit_world import exports
from wit_world.exports import offer

import logic
from emporium_sdk import Config, ConfigError, InvalidInput, Logger, plugin_error


class Offer(exports.Offer):
    def check(self, input):
        try:
            d = logic.check(Config.from_host(), input)
        except (ConfigError, InvalidInput) as e:
            raise plugin_error(e) from None
        Logger.from_host().debug(f"satisfied={d.is_satisfied}")
        return offer.ConditionResult(
            d.is_satisfied,
            [offer.ConsumedLine(line_id, quantity) for line_id, quantity in d.consumed],
            d.upsell_message,
        )
