// A real OpenID Connect provider (panva's oidc-provider) for the single sign-on tests.
//
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, and ACCOUNTS_FILE, a JSON file
// {"<login>": {"email": "...", "groups": ["..."]}} read again at every sign-in so a test can
// change a person's groups between two sign-ins. The login form is the provider's own
// development form: any password is accepted, the login names the account.
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

function account(login) {
  const people = JSON.parse(readFileSync(process.env.ACCOUNTS_FILE, 'utf8'));
  return people[login] ?? { email: login, groups: [] };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  // Groups travel in their own scope, as with most identity providers.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        const person = account(sub);
        return {
          sub,
          email: person.email,
          email_verified: true,
          name: person.name ?? sub,
          groups: person.groups ?? [],
        };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['gatehouse-test-cookie-key'] },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
