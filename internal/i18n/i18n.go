// Package i18n chooses the language of a page or an email and translates
// its messages. A message's key is its English text (a fmt format when
// it takes arguments): templates write {{T "Sign in"}}, Go code
// i18n.T(lang, "Sign in").
//
// This is the seam the localized catalogs plug into; until they do,
// every message is its English text.
package i18n

import "fmt"

// Default is the language used when nothing else matches.
const Default = "en"

// Match picks the language of a response: the first tag of uiLocales
// (OIDC ui_locales, space-separated BCP 47 tags) that is supported, else
// the best supported match for the Accept-Language header, else Default.
func Match(uiLocales, acceptLanguage string) string {
	return Default
}

// T translates key into lang, formatting args into it like fmt.Sprintf.
func T(lang, key string, args ...any) string {
	if len(args) == 0 {
		return key
	}
	return fmt.Sprintf(key, args...)
}
