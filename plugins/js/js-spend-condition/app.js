// WIT glue for js-spend-condition (world `offer-condition`). componentize-js maps the exported
// interface `offer` to the `offer` export of this module, WIT kebab-case names to camelCase,
// `option<T>` to `T | undefined`, and a thrown `{ tag, val }` to the `err` case of a `result`.
import { log, configGet } from 'emporium:plugin/host@0.1.0';
import { ConfigError, InvalidInput, check } from './spend.js';

export const offer = {
  check(input) {
    let decision;
    try {
      decision = check(configGet, input);
    } catch (e) {
      if (e instanceof ConfigError) throw { tag: 'config', val: e.message };
      if (e instanceof InvalidInput) throw { tag: 'invalid-input', val: e.message };
      // Anything else is a bug: let it trap. The host reports it as a typed error naming this
      // plugin, leaves the offer out and keeps serving.
      throw e;
    }
    log('debug', `satisfied=${decision.isSatisfied}`);
    return decision;
  },
};
