// Package ldap signs users in with a username and password against an
// LDAP directory (OpenLDAP, 389 Directory Server, Active Directory...),
// for the sign-in form when a directory is the password backend.
//
// One Authenticate call:
//
//  1. connects over TLS: ldaps://, or ldap:// upgraded with StartTLS
//     (RFC 4511 §4.14), checking the server's certificate against
//     ca_file (or the system roots) and its name against the URL's host;
//     plaintext only to a loopback host, and only when the configuration
//     says insecure_no_tls;
//  2. binds as the service account (bind_dn);
//  3. searches user_base for entries matching user_filter AND
//     (username_attribute=<username>), the username escaped (RFC 4515
//     §3) so that "*", "(", ")" and "\" are matched literally; anything
//     but exactly one entry is ErrInvalidCredentials;
//  4. binds as that entry with the password: invalidCredentials is
//     ErrInvalidCredentials. An empty password is refused before any
//     connection, since a bind with a DN and no password is an
//     "unauthenticated bind" (RFC 4513 §5.1.2) that many directories
//     answer with success;
//  5. reads the identity from the entry (attributes) and the groups
//     from the entry's memberOf (attributes.groups) and/or a search of
//     group_base made as the service account.
//
// Wrong password, unknown user and ambiguous user all give the same
// ErrInvalidCredentials; other failures (the directory unreachable, its
// certificate untrusted, the service account refused, the timeout) are
// wrapped errors that say which step failed, for the log, not the user.
// Every call is bounded by timeout and by its context.
//
// The package holds no connection between calls and writes nothing to
// the directory. It must not log or return passwords; Config's LogValue
// leaves the bind password out.
//
// # Configuration
//
// The ldap section of config.yaml (here an OpenLDAP directory; for
// Active Directory use username_attribute: sAMAccountName,
// attributes.subject: objectGUID and user_filter:
// (&(objectCategory=person)(objectClass=user))):
//
//	ldap:
//	  url: ldap://ldap.example.com:389   # or ldaps://ldap.example.com:636
//	  start_tls: true                    # ldap:// only
//	  ca_file: /etc/authrim/ldap-ca.pem  # system roots when empty
//	  timeout: 10s
//	  bind_dn: cn=authrim,ou=services,dc=example,dc=com
//	  bind_password_file: /run/secrets/ldap-bind-password  # or bind_password
//	  user_base: ou=people,dc=example,dc=com
//	  user_filter: (objectClass=inetOrgPerson)
//	  username_attribute: uid
//	  attributes:
//	    subject: entryUUID   # stable, never reassigned
//	    username: uid
//	    email: mail          # "-" for none
//	    name: cn             # "-" for none
//	    groups: memberOf     # optional: group DNs on the user entry
//	  email_verified: false  # true when the directory's addresses are checked
//	  group_base: ou=groups,dc=example,dc=com  # optional: search for groups
//	  group_filter: (objectClass=groupOfNames)
//	  group_member_attribute: member  # memberUid for posixGroup
//	  group_member_value: dn          # username for posixGroup
//	  group_name_attribute: cn
//
// For a directory on the same machine without TLS:
//
//	ldap:
//	  url: ldap://127.0.0.1:389
//	  insecure_no_tls: true  # refused for any host but localhost, 127.0.0.0/8 and ::1
//
// internal/slapdtest runs the real slapd that the tests sign in against.
package ldap
