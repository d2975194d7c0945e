// WIT glue for js-express-shipping (world `shipping-method`). componentize-js maps the exported
// interface `shipping` to the `shipping` export of this module, WIT kebab-case names to camelCase,
// `option<T>` to `T | undefined`, and a thrown `{ tag, val }` to the `err` case of a `result`.
import { log, configGet, now } from 'emporium:plugin/host@0.1.0';
import { ConfigError, quote } from './express.js';

export const shipping = {
  quote(request) {
    let quotes;
    try {
      quotes = quote(configGet, request, now().seconds);
    } catch (e) {
      if (e instanceof ConfigError) throw { tag: 'config', val: e.message };
      // Anything else is a bug: let it trap. The host reports it as a typed error naming this
      // plugin and keeps serving.
      throw e;
    }
    const currency = request.basket.currency;
    log('debug', `${quotes.length} quote(s)`);
    return quotes.map((q) => ({
      code: q.code,
      name: q.name,
      description: q.description,
      chargeExclTax: { amount: q.chargeExclTax, currency },
      chargeInclTax: { amount: q.chargeInclTax, currency },
    }));
  },
};
