// WIT glue: componentize-js calls the object exported under each exported interface's name.
// WIT names are camelCase here; throwing { tag, val } returns the `err` case of a `result`.
import { log, configGet } from 'emporium:plugin/host@{{wit_version}}';
import { Config, Logger, toPluginError } from './emporium-sdk.js';
import { check } from './logic.js';

const config = new Config(configGet);
const logger = new Logger(log);

export const offer = {
  check(input) {
    let decision;
    try {
      decision = check(config, input);
    } catch (e) {
      throw toPluginError(e);
    }
    logger.debug(`satisfied=${decision.isSatisfied}`);
    return decision;
  },
};
