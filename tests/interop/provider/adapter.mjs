/**
 * An in-memory storage adapter for oidc-provider that the test harness can inspect and wipe.
 *
 * oidc-provider's built-in memory adapter keeps its store private, so "revoke every token"
 * (the mass revocation the client's 401 path is tested against) cannot be done through it.
 * This one keeps every model in one Map the test endpoints can reach. Interface:
 * https://github.com/panva/node-oidc-provider/blob/v8.x/example/my_adapter.js
 */

/** Models whose entries are bearer credentials: wiping them is "revoke all tokens". */
const TOKEN_MODELS = new Set(['AccessToken', 'ClientCredentials', 'RefreshToken']);

/** Models that belong to a grant (an authorization), revoked together by revokeByGrantId. */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

export class Store {
  constructor() {
    /** key -> { payload, expiresAt (ms epoch) | undefined } */
    this.entries = new Map();
    /** index key (grant:, userCode:, sessionUid:) -> value */
    this.indexes = new Map();
  }

  get(key) {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  set(key, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
    this.entries.set(key, { payload, expiresAt });
  }

  /** Deletes every access token, client-credentials token and refresh token; returns how many. */
  revokeAllTokens() {
    let count = 0;
    for (const key of [...this.entries.keys()]) {
      if (TOKEN_MODELS.has(key.slice(0, key.indexOf(':')))) {
        this.entries.delete(key);
        count += 1;
      }
    }
    return count;
  }
}

/** Returns an adapter class (what oidc-provider's `adapter` option takes) backed by `store`. */
export function adapterFor(store) {
  return class MapAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      if (this.model === 'Session') {
        store.indexes.set(`sessionUid:${payload.uid}`, id);
      }
      if (GRANTABLE.has(this.model) && payload.grantId) {
        const grantKey = `grant:${payload.grantId}`;
        const keys = store.indexes.get(grantKey) ?? [];
        keys.push(key);
        store.indexes.set(grantKey, keys);
      }
      if (payload.userCode) {
        store.indexes.set(`userCode:${payload.userCode}`, id);
      }
      store.set(key, payload, expiresIn);
    }

    async find(id) {
      return store.get(this.key(id));
    }

    async findByUid(uid) {
      return this.find(store.indexes.get(`sessionUid:${uid}`));
    }

    async findByUserCode(userCode) {
      return this.find(store.indexes.get(`userCode:${userCode}`));
    }

    async consume(id) {
      const payload = store.get(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      store.entries.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const grantKey = `grant:${grantId}`;
      for (const key of store.indexes.get(grantKey) ?? []) {
        store.entries.delete(key);
      }
      store.indexes.delete(grantKey);
    }
  };
}
