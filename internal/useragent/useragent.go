// Package useragent summarises a User-Agent header for people: the
// account page and the admin API name each session's device with it.
//
// The header is whatever the client chose to send, so the summary is
// built only from the fixed names below: nothing of the header itself
// reaches a page, and an odd or hostile header is at worst "Unknown
// browser". It must never echo the header.
package useragent

import (
	"strings"

	"authrim/internal/i18n"
)

// uaRule maps a marker in the header to a name; the first rule that
// matches wins, so more specific markers come first (Edge and Opera
// also say Chrome; Chrome also says Safari; iOS also says Mac OS X).
type uaRule struct{ marker, name string }

var uaBrowsers = []uaRule{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"Opera", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"Vivaldi/", "Vivaldi"},
	{"YaBrowser/", "Yandex Browser"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"Chromium/", "Chromium"}, {"HeadlessChrome/", "Headless Chrome"}, {"Chrome/", "Chrome"},
	{"Version/", "Safari"}, // Safari's own version token; other WebKit browsers matched above
	{"Trident/", "Internet Explorer"}, {"MSIE ", "Internet Explorer"},
	{"curl/", "curl"}, {"Wget/", "Wget"},
	{"Go-http-client/", "Go HTTP client"}, {"python-requests/", "Python requests"},
}

var uaSystems = []uaRule{
	{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"iPod", "iPod"},
	{"Android", "Android"},
	{"CrOS", "ChromeOS"},
	{"Windows", "Windows"},
	{"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
	{"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"},
	{"Ubuntu", "Ubuntu"}, {"Fedora", "Fedora"},
	{"Linux", "Linux"}, {"X11", "Unix"},
}

// maxUAScan bounds how much of a header is looked at (the grain keeps
// 256 bytes; a direct caller gets the same bound).
const maxUAScan = 512

// unknownDevice is the summary of a header that names nothing known.
const unknownDevice = "Unknown browser"

// Summary summarises a User-Agent header as "Browser on System"
// ("Firefox on Linux", "Safari on iPhone"), either half alone when the
// other is unknown, or "Unknown browser".
func Summary(ua string) string { return SummaryIn(i18n.Default, ua) }

// SummaryIn is Summary in lang (internal/i18n): the words around the
// names are translated, the names are not.
func SummaryIn(lang, ua string) string {
	if len(ua) > maxUAScan {
		ua = ua[:maxUAScan]
	}
	browser, system := uaMatch(ua, uaBrowsers), uaMatch(ua, uaSystems)
	switch {
	case browser != "" && system != "":
		return i18n.T(lang, "%s on %s", browser, system)
	case browser != "":
		return browser
	case system != "":
		return i18n.T(lang, "Browser on %s", system)
	}
	return i18n.T(lang, unknownDevice)
}

func uaMatch(ua string, rules []uaRule) string {
	for _, r := range rules {
		if strings.Contains(ua, r.marker) {
			return r.name
		}
	}
	return ""
}
