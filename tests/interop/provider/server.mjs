/**
 * panva's oidc-provider (OpenID Certified), configured for oauthflow's interop tests.
 *
 * Usage: node server.mjs [--config FILE] [--port N] [--exit-on-stdin-close]
 *   --config FILE  JSON settings (else env OAUTHFLOW_INTEROP_CONFIG holding the JSON itself):
 *                  { "clients": [ <oidc-provider client metadata>, ... ],
 *                    "ttl": { "AccessToken": 30, "ClientCredentials": 30, ... } }  (seconds)
 *   --port N       port on 127.0.0.1 (else env PORT, else 0: the OS picks a free port)
 *   --exit-on-stdin-close  exit when stdin reaches EOF (the parent test process died)
 *
 * Listens on 127.0.0.1 only and prints one line on stdout when it accepts connections:
 *   READY {"issuer": "http://127.0.0.1:PORT", "api_url": ".../api/resource", ...}
 * Logs (one line per request, path only: no query strings, no secrets) go to stderr.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

import { adapterFor, Store } from './adapter.mjs';
import {
  API_RESOURCE, countingMiddleware, newCounters, router,
} from './routes.mjs';

const HOST = '127.0.0.1';
const JWT_API_RESOURCE = 'urn:oauthflow:api:jwt';

/**
 * Resource servers for RFC 8707 resource indicators: client_credentials (or a code exchange)
 * with `resource=urn:oauthflow:api` gets an opaque token, `urn:oauthflow:api:jwt` a signed JWT.
 */
const RESOURCE_SERVERS = {
  [API_RESOURCE]: { scope: 'api:read api:write', accessTokenFormat: 'opaque' },
  [JWT_API_RESOURCE]: {
    scope: 'api:read api:write',
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  },
};

function readSettings() {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
      'exit-on-stdin-close': { type: 'boolean', default: false },
    },
  });
  const text = values.config
    ? readFileSync(values.config, 'utf8')
    : process.env.OAUTHFLOW_INTEROP_CONFIG ?? '{}';
  const settings = JSON.parse(text);
  return {
    clients: settings.clients ?? [],
    ttl: settings.ttl ?? {},
    port: Number(values.port ?? process.env.PORT ?? 0),
    exitOnStdinClose: values['exit-on-stdin-close'],
  };
}

/** Fresh signing keys per run (RS256 first: the default ID token algorithm; then ES256). */
function signingKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return {
    keys: [
      { ...rsa, kid: 'rs256-1', use: 'sig', alg: 'RS256' },
      { ...ec, kid: 'es256-1', use: 'sig', alg: 'ES256' },
    ],
  };
}

/** Any login works with devInteractions; the account's claims derive from its id. */
async function findAccount(ctx, id) {
  return {
    accountId: id,
    async claims() {
      return {
        sub: id, name: id, email: `${id}@example.test`, email_verified: true,
      };
    },
  };
}

function configuration({ clients, ttl }, store) {
  return {
    adapter: adapterFor(store),
    clients,
    jwks: signingKeys(),
    cookies: { keys: [randomBytes(32).toString('hex')] },
    findAccount,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    ttl,
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      resourceIndicators: {
        enabled: true,
        async getResourceServerInfo(ctx, resourceIndicator) {
          const info = RESOURCE_SERVERS[resourceIndicator];
          if (!info) throw new errors.InvalidTarget();
          return info;
        },
      },
    },
    // Refresh tokens for every client allowed the refresh_token grant, from the authorization
    // code and device code grants alike (not only with the offline_access scope).
    async issueRefreshToken(ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    // Rotate on every use: the old refresh token is consumed; reusing it revokes the grant.
    rotateRefreshToken: true,
    // Tokens outlive the headless browser session that approved them.
    async expiresWithSession() {
      return false;
    },
  };
}

function logRequests(handler) {
  return function logged(req, res) {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const path = req.url.split('?')[0];
      console.error(`${req.method} ${path} ${res.statusCode} ${ms.toFixed(1)}ms`);
    });
    handler(req, res);
  };
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve(server.address().port));
  });
}

async function main() {
  const settings = readSettings();
  let handler = (req, res) => {
    res.writeHead(503).end();
  };
  const server = createServer((req, res) => handler(req, res));
  const port = await listen(server, settings.port);
  const issuer = `http://${HOST}:${port}`;

  const store = new Store();
  const counters = newCounters();
  const provider = new Provider(issuer, configuration(settings, store));
  provider.use(countingMiddleware(counters));
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  handler = logRequests(router({ provider, store, counters }));

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (settings.exitOnStdinClose) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }

  const ready = {
    issuer,
    port,
    api_url: `${issuer}/api/resource`,
    api_resource: API_RESOURCE,
    jwt_api_resource: JWT_API_RESOURCE,
    node: process.version,
  };
  console.log(`READY ${JSON.stringify(ready)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
