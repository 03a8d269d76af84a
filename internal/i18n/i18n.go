// Package i18n chooses the language of a page or an email and translates
// its messages. A message's key is its English text (a fmt format when
// it takes arguments): templates write {{T "Sign in"}}, Go code
// i18n.T(lang, "Sign in").
//
// The catalogs are Go maps, one file per language (ja.go, de.go, fr.go),
// from the English key to the translation: a translator edits those
// files only. English needs no catalog: its key is its text. A key with
// no translation shows in English (TestCatalogsComplete in the packages
// that use keys fails on it).
package i18n

import (
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Default is the language used when nothing else matches.
const Default = "en"

// catalogs are the translations of each language but English.
var catalogs = map[string]map[string]string{
	"ja": ja,
	"de": de,
	"fr": fr,
}

// supported lists the languages, Default first: the matcher's fallback
// is its first tag.
var supported = []language.Tag{language.English, language.Japanese, language.German, language.French}

var (
	matcher  = language.NewMatcher(supported)
	printers = map[string]*message.Printer{}
)

func init() {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for _, tag := range supported {
		name := tag.String()
		for key, text := range catalogs[name] {
			if err := b.SetString(tag, key, text); err != nil {
				panic("i18n: " + name + ": " + key + ": " + err.Error())
			}
		}
		printers[name] = message.NewPrinter(tag, message.Catalog(b))
	}
}

// Supported returns the supported languages as BCP 47 tags, Default
// first (discovery's ui_locales_supported).
func Supported() []string {
	out := make([]string, len(supported))
	for i, t := range supported {
		out[i] = t.String()
	}
	return out
}

// Has tells whether key has a translation in lang (always, for English).
func Has(lang, key string) bool {
	if lang == Default {
		return true
	}
	_, ok := catalogs[lang][key]
	return ok
}

// Bounds on what Match reads of its untrusted inputs: a browser sends a
// handful of tags; more is noise or an attempt to make us work.
const (
	maxInput = 1024
	maxTags  = 16
)

// Match picks the language of a response: the first tag of uiLocales
// (OIDC Core §3.1.2.1 ui_locales: space-separated BCP 47 tags in order
// of preference) that a supported language matches, else the best
// supported match for the Accept-Language header (RFC 9110 §12.5.4,
// q-values honoured), else Default. A region or script picks its
// language (fr-CA: fr). Malformed tags are skipped.
func Match(uiLocales, acceptLanguage string) string {
	if len(uiLocales) <= maxInput {
		for i, s := range strings.Fields(uiLocales) {
			if i == maxTags {
				break
			}
			t, err := language.Parse(s)
			if err != nil {
				continue
			}
			if _, idx, conf := matcher.Match(t); conf != language.No {
				return supported[idx].String()
			}
		}
	}
	if acceptLanguage == "" || len(acceptLanguage) > maxInput {
		return Default
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return Default
	}
	if len(tags) > maxTags {
		tags = tags[:maxTags]
	}
	if _, idx, conf := matcher.Match(tags...); conf != language.No {
		return supported[idx].String()
	}
	return Default
}

// Text is the translation of key into lang, unformatted (key itself
// when it has none).
func Text(lang, key string) string {
	if t, ok := catalogs[lang][key]; ok {
		return t
	}
	return key
}

// T translates key into lang, formatting args into it like fmt.Sprintf.
// An unsupported lang is Default. Without args the text is returned as
// it is, not read as a format: a message that is not a catalog key (an
// error's own words, with a % in a URL) passes through unharmed.
func T(lang, key string, args ...any) string {
	if len(args) == 0 {
		return Text(lang, key)
	}
	p, ok := printers[lang]
	if !ok {
		p = printers[Default]
	}
	return p.Sprintf(key, args...)
}
