package auth

import "html/template"

// samplePageData is data of the shape each page's handler passes, used
// at start to execute every template (a theme's overrides included) once:
// a template that cannot render stops the start, not a request. Keep it
// in step with the handlers: a field a handler sends belongs here too.
var samplePageData = map[string]map[string]any{
	"signup.html": {"Title": "Create an account", "CSRF": "csrf", "Username": "ada", "Email": "ada@example.com", "Error": "This username is taken."},
	"forgot.html": {"Title": "Forgot your password?", "CSRF": "csrf", "Error": "Too many requests"},
	"notice.html": {"Title": "Check your mail", "Message": "We sent a link.", "Link": "/password/forgot", "LinkText": "Ask for a new link"},
	"reset.html": {
		"Title": "Choose a new password", "Action": ResetPasswordPath, "Token": "token", "Username": "ada",
		"CSRF": "csrf", "Error": "The two passwords differ.", "Invite": true,
	},
	"verify_email.html":    {"Title": "Confirm your email address", "Email": "ada@example.com", "CSRF": "csrf", "Token": "token"},
	"verify_required.html": {"Title": "Confirm your email address", "ClientName": "App", "CSRF": "csrf", "CanSend": true},
	"account.html": {
		"Title": "Your account", "User": "Ada", "CSRF": "csrf",
		"Passkeys": []struct{ ID, Name, Created, LastUsed, Backup, Flag string }{
			{ID: "id", Name: "Laptop", Created: "2026-01-02 03:04", LastUsed: "never", Backup: "synced", Flag: "Disabled"},
		},
		"MFAUnavailable": true, "ShowMFA": true,
		"MFA": map[string]any{
			"TOTP": true, "Since": "2026-01-02 03:04", "LastUsed": "never",
			"Left": 9, "Total": 10, "RecoveryUsed": "2026-01-02 03:04", "RecoveryEverUsed": true,
		},
		"ShowSessions": true, "SessionsUnavailable": true, "Others": true,
		"ShowEmail": true, "Email": "ada@example.com", "EmailVerified": false, "ShowPassword": true,
		"ShowLinks": true, "LinksUnavailable": true,
		"Links": []linkRow{{Connector: "corp", Name: "Corp", Email: "ada@corp.example", Created: "2026-01-02 03:04", Issuer: "https://corp.example", Subject: "1"}},
		"Sessions": []sessionRow{
			{Sid: "a", Device: "Firefox on Linux", Address: "192.0.2.1", SignedIn: "2026-01-02 03:04 UTC", Method: "password", Apps: []string{"App"}, Current: true},
			{Sid: "b", Device: "Safari on iOS", Address: "unknown", SignedIn: "2026-01-02 03:04 UTC", Method: "passkey"},
		},
	},
	"consent.html": {
		"Title": "Allow access?", "ClientName": "App", "ClientHost": "app.example", "RedirectHost": "cb.example",
		"Scopes": []string{"See your email address"}, "Claims": []string{"email"}, "RID": "rid", "CSRF": "csrf",
		"Resources": []resourceView{{Name: "API", ID: "https://api.example", Scopes: "read"}},
	},
	"device.html": {
		"Title": "Connect a device?", "User": "Ada", "Code": "ABCD-EFGH", "Error": "Wrong code.", "CSRF": "csrf",
		"Client": "TV", "ClientID": "tv", "Host": "tv.example", "Scopes": []string{"See your email address"},
	},
	"error.html":     {"Title": "Cannot continue", "Message": "Unknown client."},
	"form_post.html": {"Title": "Continue", "Action": "https://app.example/cb", "Fields": map[string]string{"code": "c", "state": "s"}},
	"login.html": {
		"Title": "Sign in", "ClientName": "App", "ClientHost": "app.example", "RID": "rid", "CSRF": "csrf",
		"Username": "ada", "Error": "Wrong username or password.", "PasskeyOnly": false, "Forgot": true, "SignUp": true,
		"Upstreams": []upstreamButton{{ID: "corp", Name: "Corp"}},
	},
	"logout.html": {
		"Title": "Sign out", "CSRF": "csrf", "ClientID": "app", "RedirectURI": "https://app.example/bye", "State": "s", "UILocales": "ja",
	},
	"logout_frames.html": {
		"Title": "Signed out", "TimeoutMs": 5000, "Next": "https://app.example/bye",
		"Frames": []frontFrame{{Src: "https://app.example/fc", Origin: "https://app.example", Name: "App"}},
	},
	"mfa.html": {"Title": "Enter your code", "ClientName": "App", "RID": "rid", "CSRF": "csrf", "Pending": "p", "Error": "Wrong code."},
	"recovery_codes.html": {
		"Title": "Your recovery codes", "Codes": []string{"abcde-fghjk"}, "Enrolled": true, "Continue": true, "RID": "rid", "CSRF": "csrf",
	},
	"signed_out.html": {"Title": "Signed out"},
	"totp_setup.html": {
		"Title": "Set up an authenticator app", "Required": true, "ClientName": "App", "Error": "Wrong code.",
		"QR": template.URL("data:image/png;base64,AA=="), "Key": "ABCD EFGH", "Issuer": "Authrim", "Account": "ada",
		"Action": TOTPConfirmPath, "CSRF": "csrf", "RID": "rid", "Pending": "p",
	},
}
