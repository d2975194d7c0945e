// WIT glue: componentize-js calls the object exported under each exported interface's name.
// WIT names are camelCase here; throwing { tag, val } returns the `err` case of a `result`.
// Prices a whole page of products in one call.
import { log, configGet } from 'emporium:plugin/host@{{wit_version}}';
import { Config, Logger, toPluginError } from './emporium-sdk.js';
import { price, readSettings } from './logic.js';

const config = new Config(configGet);
const logger = new Logger(log);

export const pricing = {
  price(context, items) {
    let decisions;
    try {
      decisions = price(readSettings(config), context, items);
    } catch (e) {
      throw toPluginError(e);
    }
    logger.debug(`priced ${decisions.length} item(s)`);
    const money = (amount) => ({ amount, currency: context.currency });
    return decisions.map((d) => ({
      productId: d.productId,
      partnerId: d.partnerId,
      price: d.exclTax === undefined ? undefined : { exclTax: money(d.exclTax), inclTax: money(d.inclTax) },
      availability: { status: d.status, numAvailable: d.numAvailable, message: d.message },
    }));
  },
};
