"""WIT glue: componentize-py loads this module and calls one class per exported interface.
Arguments arrive as a JSON array and the result leaves as JSON text."""

import json

from wit_world import exports
from wit_world.exports import theme

import logic
from emporium_sdk import Config, ConfigError, InvalidInput, plugin_error

KIND = {"filter": theme.FunctionKind.FILTER, "function": theme.FunctionKind.FUNCTION}


class Theme(exports.Theme):
    def functions(self):
        return [theme.FunctionInfo(name, KIND[kind], help) for name, kind, help in logic.HELPERS]

    def call(self, name, args_json):
        try:
            try:
                args = json.loads(args_json)
            except ValueError:
                raise InvalidInput("arguments are not JSON") from None
            result = logic.call(Config.from_host(), name, args)
        except (ConfigError, InvalidInput) as e:
            raise plugin_error(e) from None
        return json.dumps(result, ensure_ascii=False)
