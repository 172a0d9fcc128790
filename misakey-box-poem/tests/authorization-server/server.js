// A real OAuth 2.0 authorization server for the introspection tests of misakey-box:
// oidc-provider, with token introspection (RFC 7662) and revocation (RFC 7009), listening on
// 127.0.0.1 only.
//
//   node server.js PORT
//
// Clients:
// - `misakey-box` / `resource-server-secret`: the resource server; it introspects tokens.
// - `test-app` / `test-app-secret`: issues tokens through the test grant below and revokes them.
//
// The test grant (`grant_type=urn:misakey-box:test-token`) stands for a login: it issues an
// opaque access token for `sub`, with optional `acr` (sent as JSON, so numbers, strings and
// arrays all come through), `name`, `email`, `ext` (a JSON object, Hydra-style claims) and
// `expires_in` (seconds), without a login page.
//
// For the failure tests, `POST /test/delay?ms=N` delays every later introspection by N ms, and
// `GET /test/introspections` counts the introspections answered so far.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.js PORT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const TEST_GRANT = 'urn:misakey-box:test-token';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'misakey-box',
      client_secret: 'resource-server-secret',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'test-app',
      client_secret: 'test-app-secret',
      grant_types: [TEST_GRANT],
      response_types: [],
      redirect_uris: [],
    },
  ],
  // The claims the test grant put on the token come back in its introspection.
  extraTokenClaims: async (_ctx, token) => token.extra,
  features: {
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
});

const optionalJson = (text) => (text === undefined ? undefined : JSON.parse(text));

async function testGrant(ctx) {
  const { params, client } = ctx.oidc;
  const grant = new provider.Grant({ accountId: params.sub, clientId: client.clientId });
  grant.addOIDCScope('openid');
  const grantId = await grant.save();
  const extra = {
    acr: optionalJson(params.acr),
    name: params.name,
    email: params.email,
    ext: optionalJson(params.ext),
  };
  const token = new provider.AccessToken({
    accountId: params.sub,
    client,
    grantId,
    scope: 'openid',
    expiresIn: params.expires_in ? Number(params.expires_in) : 3600,
    extra: Object.fromEntries(Object.entries(extra).filter(([, value]) => value !== undefined)),
  });
  const value = await token.save();
  ctx.body = {
    access_token: value,
    token_type: 'Bearer',
    expires_in: token.expiration,
  };
}
provider.registerGrantType(TEST_GRANT, testGrant, ['sub', 'acr', 'name', 'email', 'ext', 'expires_in']);

let introspections = 0;
let delayMs = 0;
provider.use(async (ctx, next) => {
  if (ctx.path === '/token/introspection') {
    if (delayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    await next();
    introspections += 1;
    return;
  }
  await next();
});

const callback = provider.callback();
const server = http.createServer((request, response) => {
  const url = new URL(request.url, issuer);
  if (url.pathname === '/test/introspections') {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ introspections }));
    return;
  }
  if (url.pathname === '/test/delay' && request.method === 'POST') {
    delayMs = Number(url.searchParams.get('ms') ?? 0);
    response.end();
    return;
  }
  callback(request, response);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${issuer}`);
});
