// LISTEN/NOTIFY channels shared between domains. Kept here, below every domain, so a publisher
// never has to import the domain that listens (which would make import cycles).

/** A Pool API key (or its limits) changed. Payload: the key prefix, or `*` for all keys. */
export const API_KEY_CHANNEL = 'cxp_api_keys';
/** A pool's routing inputs changed. Payload: the pool id, or `*`. */
export const ROUTING_CHANNEL = 'cxp_routing';
/** An account's credentials or state changed. Payload: the upstream identity id. */
export const CREDENTIALS_CHANNEL = 'cxp_credentials';
