// node-oidc-provider as an upstream OpenID Provider for the node tests
// (node/upstream_oidcprovider_test.go): https on 127.0.0.1:PORT with the
// test's certificate, one client (the node under test), any login
// accepted by its development interactions, claims from the login name.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const { ISSUER, PORT, CERT, KEY, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@np.example`, email_verified: true, name: `${id} at node-oidc-provider`, preferred_username: id };
      },
    };
  },
  pkce: { required: () => true },
  cookies: { keys: ['authrim-test-cookie-key-0123456789'] },
});

https.createServer({ cert: readFileSync(CERT), key: readFileSync(KEY) }, provider.callback())
  .listen(Number(PORT), '127.0.0.1', () => console.log('listening'));
