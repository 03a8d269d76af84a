package auth

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
)

// frontchannelTimeoutMs is how long the logout page's script waits for
// the relying parties' frames before it moves on (the page tells the
// script): a frame that never loads must not keep the user.
const frontchannelTimeoutMs = 5000

// frontFrame is one relying party's front-channel logout frame.
type frontFrame struct {
	// Src is the client's frontchannel_logout_uri, with iss and sid
	// when it asked for them.
	Src string
	// Origin is Src's scheme://host[:port], for frame-src.
	Origin string
	// Name is the client's, naming the frame for assistive technology.
	Name string
}

// frontchannelFrames returns the frames for the relying-party sessions a
// logout ended (the grain's reply): one per client that registered a
// frontchannel_logout_uri (OpenID Connect Front-Channel Logout 1.0 §4).
// sid is the session's id, the sid claim of its ID tokens.
func (h *Handler) frontchannelFrames(ctx context.Context, sid string, ended []*messages.EndedClient) []frontFrame {
	var out []frontFrame
	seen := map[string]bool{}
	for _, e := range ended {
		id := e.GetClientId()
		if seen[id] {
			continue
		}
		seen[id] = true
		cl, err := h.clients.Client(ctx, id)
		if err != nil {
			// A client deleted since: nobody left to tell.
			h.logger.InfoContext(ctx, "front-channel logout: client not found", "client_id", id, "err", err)
			continue
		}
		if cl.FrontchannelLogoutURI == "" {
			continue
		}
		src, origin, ok := frameURL(cl.FrontchannelLogoutURI, cl.FrontchannelLogoutSessionRequired, h.cfg.Issuer, sid)
		if !ok {
			h.logger.WarnContext(ctx, "front-channel logout: unusable frontchannel_logout_uri", "client_id", id)
			continue
		}
		name := cl.Name
		if name == "" {
			name = cl.ID
		}
		out = append(out, frontFrame{Src: src, Origin: origin, Name: name})
	}
	return out
}

// frameURL is the frame's URL: the registered URI, with iss and sid
// appended to its query when the client registered
// frontchannel_logout_session_required (Front-Channel Logout 1.0 §2: the
// parameters are added, the URI's own query is kept as it is). origin is
// its CSP source; ok is false for a URI that is not plain http(s) (the
// registration rules refuse those; a record from elsewhere is not
// trusted to be).
func frameURL(raw string, withSession bool, iss, sid string) (src, origin string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", "", false
	}
	host := strings.ToLower(u.Host)
	if strings.IndexFunc(host, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:[]", r))
	}) >= 0 {
		// Only what is safe inside a Content-Security-Policy source.
		return "", "", false
	}
	if withSession {
		add := url.Values{"iss": {iss}, "sid": {sid}}.Encode()
		if u.RawQuery != "" {
			u.RawQuery += "&" + add
		} else {
			u.RawQuery = add
		}
	}
	return u.String(), u.Scheme + "://" + host, true
}

// frameSources is the frame-src list of the frames' origins, each once.
func frameSources(frames []frontFrame) string {
	var o []string
	for _, f := range frames {
		if !slices.Contains(o, f.Origin) {
			o = append(o, f.Origin)
		}
	}
	return strings.Join(o, " ")
}

// renderFrontchannel shows the logout page with the relying parties'
// frames: a script moves on to next (the post-logout redirect) once every
// frame has loaded or the timeout has passed; without script the user
// follows the Continue link. With no next the page is the signed-out
// page. Its CSP allows exactly the frames' origins as frame sources.
func renderFrontchannel(c echo.Context, frames []frontFrame, next string) error {
	csp := pageCSP + "; frame-src " + frameSources(frames)
	data := map[string]any{"Title": tr(c, "Signed out"), "Frames": frames, "TimeoutMs": frontchannelTimeoutMs}
	if next != "" {
		// A registered post_logout_redirect_uri, which CheckRedirectURI
		// keeps off script schemes: a native app's own scheme must
		// survive html/template's URL filter. A record that got past
		// that rule is left to the filter.
		data["Next"] = next
		if u, err := url.Parse(next); err == nil && !slices.Contains([]string{"javascript", "data", "vbscript", "file"}, strings.ToLower(u.Scheme)) {
			data["Next"] = template.URL(next)
		}
	}
	return renderWithCSP(c, http.StatusOK, "logout_frames.html", data, csp)
}
