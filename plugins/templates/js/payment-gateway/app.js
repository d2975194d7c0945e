// WIT glue: componentize-js calls the object exported under each exported interface's name.
// WIT names are camelCase here; variants are { tag, val }. A payment answer is a
// `payment-result`, never an exception: a configuration problem is the gateway's fault
// (`error`, logged for the merchant), not the customer's.
import { log, configGet } from 'emporium:plugin/host@{{wit_version}}';
import { Config, ConfigError, InvalidInput, Logger } from './emporium-sdk.js';
import { authorize } from './logic.js';

const config = new Config(configGet);
const logger = new Logger(log);

export const payment = {
  authorize(request) {
    let outcome;
    try {
      outcome = authorize(config, request.card?.number, request.amount.amount, request.orderNumber);
    } catch (e) {
      if (e instanceof ConfigError || e instanceof InvalidInput) return { tag: 'error', val: e.message };
      throw e;
    }
    if (outcome.declined !== undefined) return { tag: 'declined', val: outcome.declined };
    // Never log card data: the order number is enough to find the attempt.
    logger.info(`approved ${request.orderNumber}`);
    return { tag: 'approved', val: { reference: outcome.approved, amount: request.amount } };
  },

  capture(reference, amount) {
    return { tag: 'approved', val: { reference, amount } };
  },

  refund(reference, amount) {
    return { tag: 'approved', val: { reference, amount } };
  },

  void(reference) {
    return { tag: 'declined', val: `${reference}: nothing to void in the sandbox` };
  },

  handleCallback(_callback) {
    return { tag: 'error', val: 'this gateway has no redirect flow' };
  },
};
