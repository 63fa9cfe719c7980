/**
 * Non-OAuth routes served by the same Node process as the provider.
 *
 * - `/api/resource` (any method): a protected resource. It validates the bearer token with the
 *   provider's own stores (`AccessToken.find`, `ClientCredentials.find`), so a revoked or expired
 *   token is rejected exactly as the provider sees it. RFC 6750 section 3:
 *     "If the request lacks any authentication information (e.g., the client was unaware that
 *      authentication is necessary or attempted using an unsupported authentication method), the
 *      resource server SHOULD NOT include an error code or other error information."
 *     "invalid_token: The access token provided is expired, revoked, malformed, or invalid for
 *      other reasons. The resource SHOULD respond with the HTTP 401 (Unauthorized) status code."
 *   Only opaque tokens are accepted (JWT access tokens are not stored by the provider), and only
 *   when they carry no audience or the audience `urn:oauthflow:api`.
 * - `/test/*`: test controls (the server listens on 127.0.0.1 only):
 *   POST /test/revoke-all, GET /test/counters, POST /test/counters/reset.
 */

export const API_RESOURCE = 'urn:oauthflow:api';
const REALM = 'oauthflow-interop';

/** Request counters the tests read to assert how many token requests a client made. */
export function newCounters() {
  return { routes: {}, grants: {}, grant_errors: {}, api: {} };
}

function bump(table, key) {
  table[key] = (table[key] ?? 0) + 1;
}

/** Koa middleware for the provider: counts requests per route and token requests per grant. */
export function countingMiddleware(counters) {
  return async function countRequests(ctx, next) {
    try {
      await next();
    } finally {
      const route = ctx.oidc?.route;
      if (route) {
        bump(counters.routes, route);
        if (route === 'token') {
          const grantType = ctx.oidc.params?.grant_type ?? 'unknown';
          bump(ctx.status === 200 ? counters.grants : counters.grant_errors, grantType);
        }
      }
    }
  };
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function bearerToken(req) {
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(req.headers.authorization ?? '');
  return match ? match[1] : undefined;
}

async function findToken(provider, value) {
  return (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value));
}

async function handleApi(provider, counters, req, res) {
  const body = await readBody(req);
  const value = bearerToken(req);
  if (value === undefined) {
    bump(counters.api, '401');
    sendJson(res, 401, { error: 'unauthorized' }, { 'www-authenticate': `Bearer realm="${REALM}"` });
    return;
  }
  const token = await findToken(provider, value);
  if (!token || (token.aud !== undefined && token.aud !== API_RESOURCE)) {
    bump(counters.api, '401');
    const challenge = `Bearer realm="${REALM}", error="invalid_token", `
      + 'error_description="the access token is expired, revoked or invalid"';
    sendJson(res, 401, { error: 'invalid_token' }, { 'www-authenticate': challenge });
    return;
  }
  bump(counters.api, '200');
  sendJson(res, 200, {
    ok: true,
    method: req.method,
    kind: token.kind,
    client_id: token.clientId,
    sub: token.accountId ?? null,
    scope: token.scope ?? null,
    aud: token.aud ?? null,
    body_bytes: body.length,
  });
}

function handleTest(store, counters, req, res, pathname) {
  if (req.method === 'POST' && pathname === '/test/revoke-all') {
    sendJson(res, 200, { revoked: store.revokeAllTokens() });
  } else if (req.method === 'GET' && pathname === '/test/counters') {
    sendJson(res, 200, counters);
  } else if (req.method === 'POST' && pathname === '/test/counters/reset') {
    Object.assign(counters, newCounters());
    sendJson(res, 200, counters);
  } else {
    sendJson(res, 404, { error: 'not_found' });
  }
}

/**
 * Returns a node:http request handler: `/api/resource` and `/test/*` here, the rest to the provider.
 */
export function router({ provider, store, counters }) {
  const providerCallback = provider.callback();
  return function route(req, res) {
    const { pathname } = new URL(req.url, 'http://127.0.0.1');
    if (pathname === '/api/resource') {
      handleApi(provider, counters, req, res).catch((err) => {
        console.error(err);
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
      });
    } else if (pathname.startsWith('/test/')) {
      handleTest(store, counters, req, res, pathname);
    } else {
      providerCallback(req, res);
    }
  };
}
