// Drives Authrim's DPoP support (RFC 9449) with openid-client: redeems a
// code of the public client "spa" with a DPoP proof, calls userinfo with
// the bound token and refreshes, all with the library's own DPoP handle.
// Input (env): ISSUER, CALLBACK (the redirect the node sent the browser
// to), VERIFIER, STATE, NONCE. Output: one JSON line for the Go test.
import * as client from 'openid-client';

const { ISSUER, CALLBACK, VERIFIER, STATE, NONCE } = process.env;
const config = await client.discovery(new URL(ISSUER), 'spa', { id_token_signed_response_alg: 'ES256' }, client.None(), {
  execute: [client.allowInsecureRequests], // the test node listens on http://localhost
});
const keyPair = await client.randomDPoPKeyPair('ES256');
const DPoP = client.getDPoPHandle(config, keyPair);
const jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey);

const tokens = await client.authorizationCodeGrant(config, new URL(CALLBACK), {
  pkceCodeVerifier: VERIFIER, expectedState: STATE, expectedNonce: NONCE,
}, undefined, { DPoP });
const claims = tokens.claims();
const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
console.log(JSON.stringify({
  jwk,
  token_type: tokens.token_type,
  access_token: tokens.access_token,
  userinfo_sub: info.sub,
  sub: claims.sub,
  refreshed_token_type: refreshed.token_type,
  refreshed_access_token: refreshed.access_token,
}));
