// WIT glue: componentize-js calls the object exported under each exported interface's name.
// WIT names are camelCase here; throwing { tag, val } returns the `err` case of a `result`.
import { log, configGet } from 'emporium:plugin/host@{{wit_version}}';
import { ConfigError, quote } from './logic.js';

export const shipping = {
  quote(request) {
    let quotes;
    try {
      quotes = quote(configGet, request);
    } catch (e) {
      if (e instanceof ConfigError) throw { tag: 'config', val: e.message };
      throw e;
    }
    const currency = request.basket.currency;
    log('debug', `${quotes.length} quote(s)`);
    return quotes.map((q) => ({
      code: q.code,
      name: q.name,
      description: q.description,
      chargeExclTax: { amount: q.charge, currency },
      chargeInclTax: { amount: q.charge, currency },
    }));
  },
};
