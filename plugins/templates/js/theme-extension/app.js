// WIT glue: componentize-js calls the object exported under each exported interface's name.
// WIT names are camelCase here; throwing { tag, val } returns the `err` case of a `result`.
// Arguments arrive as a JSON array and the result leaves as JSON text.
import { configGet } from 'emporium:plugin/host@{{wit_version}}';
import { Config, InvalidInput, toPluginError } from './emporium-sdk.js';
import { HELPERS, call } from './logic.js';

const config = new Config(configGet);

export const theme = {
  functions() {
    return HELPERS;
  },

  call(name, argsJson) {
    try {
      let args;
      try {
        args = JSON.parse(argsJson);
      } catch {
        throw new InvalidInput('arguments are not JSON');
      }
      return JSON.stringify(call(config, name, args));
    } catch (e) {
      throw toPluginError(e);
    }
  },
};
