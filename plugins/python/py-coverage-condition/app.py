"""WIT glue for py-coverage-condition (world `offer-condition`): adapts the generated bindings to
the pure logic in coverage_condition.py.

componentize-py looks for a class named after each exported interface (`Offer`) in this module.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.offer import ConditionInput, ConditionResult, ConsumedLine
from wit_world.imports import host
from wit_world.imports.types import PluginError_Config

import coverage_condition


class Offer(exports.Offer):
    def check(self, input: ConditionInput) -> ConditionResult:
        try:
            d = coverage_condition.check(host.config_get, input)
        except coverage_condition.ConfigError as e:
            # A typed error the host reports as "plugin misconfigured", naming the key.
            raise Err(PluginError_Config(str(e)))
        # Anything else (a bug, input the plugin cannot read) propagates: the component traps
        # and the host turns that into a typed error naming this plugin; the offer is left out
        # and the basket still prices.
        host.log(host.LogLevel.DEBUG, f"satisfied={d.is_satisfied}")
        return ConditionResult(
            is_satisfied=d.is_satisfied,
            consumed=[ConsumedLine(line_id=i, quantity=q) for i, q in d.consumed],
            upsell_message=d.upsell_message,
        )
