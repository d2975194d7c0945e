// WIT glue: componentize-js calls the object exported under each exported interface's name.
// WIT names are camelCase here; throwing { tag, val } returns the `err` case of a `result`.
import { log, configGet } from 'emporium:plugin/host@{{wit_version}}';
import { Config, Logger, toPluginError } from './emporium-sdk.js';
import { quote } from './logic.js';

const config = new Config(configGet);
const logger = new Logger(log);

export const shipping = {
  quote(request) {
    let quotes;
    try {
      quotes = quote(config, request);
    } catch (e) {
      throw toPluginError(e);
    }
    const currency = request.basket.currency;
    logger.debug(`${quotes.length} quote(s)`);
    return quotes.map((q) => ({
      code: q.code,
      name: q.name,
      description: q.description,
      chargeExclTax: { amount: q.charge, currency },
      chargeInclTax: { amount: q.charge, currency },
    }));
  },
};
