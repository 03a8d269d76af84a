package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
)

// Request objects (OIDC Core §6, RFC 9101) and pushed authorization
// requests (RFC 9126).

// Limits and leeway for request objects.
const (
	// MaxObjectLifetime bounds exp - now of a request object, so a used
	// jti is remembered for a bounded time and an object leaked from a
	// log is not good for long.
	MaxObjectLifetime = time.Hour
	// objectLeeway tolerates clock skew on exp and nbf.
	objectLeeway = 30 * time.Second
	// maxObjectLen bounds a request object, by value or fetched.
	maxObjectLen = 32 << 10
)

// ObjectCrypto is what request objects need of the Crypto pool.
type ObjectCrypto interface {
	// VerifyWithKeys checks a client's JWS against its JWK set.
	VerifyWithKeys(ctx context.Context, token string, jwks []byte, algs []string) (payload []byte, kid, alg string, err error)
	// Decrypt opens a JWE addressed to one of our encryption keys.
	Decrypt(ctx context.Context, token string) ([]byte, string, error)
}

// RequestStore keeps pushed requests and used request-object ids.
type RequestStore interface {
	UseRequestJTI(ctx context.Context, clientID, jti string, exp time.Time) error
	PushRequest(ctx context.Context, clientID string, params url.Values, ttl time.Duration) (string, error)
	TakePushedRequest(ctx context.Context, clientID, requestURI string) (url.Values, error)
}

// ClientAuthenticator authenticates the client at /par.
type ClientAuthenticator interface {
	Authenticate(r *http.Request, form url.Values) (directory.Client, error)
}

// Requests enables request objects, request_uri and PAR on the auth
// front end (see WithRequests). Without it both parameters are refused
// with request_not_supported / request_uri_not_supported.
type Requests struct {
	Crypto ObjectCrypto
	Store  RequestStore
	// Keys returns the client's public JWK set (jwks or jwks_uri).
	Keys func(ctx context.Context, c directory.Client, kid string) ([]byte, error)
	// Fetch retrieves a request_uri (https, SSRF-guarded).
	Fetch      func(ctx context.Context, uri string) ([]byte, error)
	ClientAuth ClientAuthenticator
	// RequirePAR refuses authorization requests not pushed through /par,
	// for every client (a client can also require it for itself).
	RequirePAR bool
	// PushedTTL is the lifetime of a pushed request (RFC 9126 §2.2).
	PushedTTL time.Duration
	// RequireSigned refuses unsigned (alg none) request objects from
	// every client, even one that registered none (RFC 9101 §10.5,
	// require_signed_request_object). Without it, a client that did not
	// pin request_object_signing_alg may send unsigned objects (OIDC
	// Dynamic Client Registration §2: it may use any alg the OP lists).
	RequireSigned bool
}

// PARPath is the pushed authorization request endpoint.
const PARPath = "/par"

// WithRequests turns on request objects, request_uri and /par.
func (h *Handler) WithRequests(r *Requests) *Handler {
	if r.PushedTTL <= 0 {
		r.PushedTTL = 60 * time.Second
	}
	h.req = r
	return h
}

// resolve turns an authorization request that carries a request object
// (by value, by https reference or pushed) into its effective parameters.
// pushed tells whether they came through /par. On error, replyTo is the
// best view of the request there is to send the error back with: the
// object's parameters (read but not verified) over the outer ones.
func (h *Handler) resolve(ctx context.Context, p url.Values, client directory.Client) (out url.Values, pushed bool, replyTo url.Values, err error) {
	obj, uri := p.Get("request"), p.Get("request_uri")
	switch {
	case p.Has("request") && p.Has("request_uri"):
		return nil, false, p, oauth2.ErrInvalidRequest.WithDescription("request and request_uri cannot both be used")
	case strings.HasPrefix(uri, directory.PushedURIPrefix):
		// RFC 9126 §4: the pushed parameters are the request; others
		// sent now are ignored, except client_id, which must be the
		// pushing client's.
		v, err := h.req.Store.TakePushedRequest(ctx, client.ID, uri)
		if err != nil {
			if errors.Is(err, directory.ErrPushedUnknown) {
				return nil, false, p, oauth2.ErrInvalidRequestURI.WithDescription("request_uri is unknown, used or expired")
			}
			return nil, false, p, err
		}
		v.Set("client_id", client.ID)
		return v, true, nil, nil
	case p.Has("request_uri"):
		if !requestURIRegistered(client.RequestURIs, uri) {
			return nil, false, p, oauth2.ErrInvalidRequestURI.WithDescription("request_uri is not registered for this client")
		}
		b, err := h.req.Fetch(ctx, uri)
		if err != nil {
			return nil, false, p, oauth2.ErrInvalidRequestURI.WithDescription("request_uri could not be retrieved: " + fetchReason(err))
		}
		obj = string(bytes.TrimSpace(b))
		if obj == "" {
			return nil, false, p, oauth2.ErrInvalidRequestURI.WithDescription("request_uri returned an empty document")
		}
	case p.Has("request"):
	default:
		return p, false, nil, nil
	}
	claims, unverified, err := h.verifyObject(ctx, obj, client)
	if err == nil {
		out, err = mergeObject(p, claims)
		if err == nil {
			return out, false, nil, nil
		}
		unverified = claims
	}
	replyTo = url.Values{}
	for k, v := range p {
		replyTo[k] = v
	}
	for k, v := range unverified {
		replyTo[k] = v
	}
	return nil, false, replyTo, err
}

// mergeObject builds the request from a request object and the outer
// parameters. RFC 9101 §5: the object's parameters are the request and
// the outer ones are ignored, except those OIDC Core §6.1 requires
// outside the object so that the request is still an OAuth one:
// client_id and response_type, which must then match the object's when
// it has them, and scope, which must contain openid (the object's scope,
// when it has one, is the one used).
func mergeObject(outer, object url.Values) (url.Values, error) {
	out := url.Values{}
	for k, v := range object {
		out[k] = slices.Clone(v)
	}
	for _, k := range []string{"client_id", "response_type"} {
		switch {
		case !outer.Has(k):
		case !object.Has(k):
			out.Set(k, outer.Get(k))
		case outer.Get(k) != object.Get(k):
			return nil, objectError(k + " in the request object does not match the request")
		}
	}
	if outer.Has("scope") {
		if !slices.Contains(strings.Fields(outer.Get("scope")), "openid") {
			return nil, oauth2.ErrInvalidRequest.WithDescription("scope outside the request object must contain openid (OIDC Core §6.1)")
		}
		if !object.Has("scope") {
			out.Set("scope", outer.Get("scope"))
		}
	}
	return out, nil
}

// requestURIRegistered compares uri with the client's request_uris,
// exactly (OIDC Dynamic Client Registration §2: the OP fetches only what
// the client registered).
func requestURIRegistered(registered []string, uri string) bool {
	return uri != "" && slices.Contains(registered, uri)
}

func fetchReason(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); i >= 0 && strings.HasPrefix(s, "fetch") {
		return s[i+2:]
	}
	return "failed"
}

func objectError(desc string) error { return oauth2.ErrInvalidRequestObject.WithDescription(desc) }

// joseHeader is what we read of a JOSE header before verifying.
type joseHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Enc string `json:"enc"`
	Cty string `json:"cty"`
}

// decodeHeader reads the protected header of a compact JWS or JWE.
func decodeHeader(token string) (joseHeader, int, error) {
	var h joseHeader
	parts := strings.Count(token, ".") + 1
	if parts != 3 && parts != 5 {
		return h, 0, errors.New("not a compact JWS or JWE")
	}
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || json.Unmarshal(b, &h) != nil || h.Alg == "" {
		return h, 0, errors.New("malformed header")
	}
	return h, parts, nil
}

// verifyObject opens (if encrypted), verifies and checks a request object
// of client and returns its parameters. When it fails, unverified holds
// the parameters of the object as far as they could be read, unchecked,
// for sending the error back.
func (h *Handler) verifyObject(ctx context.Context, token string, client directory.Client) (params, unverified url.Values, err error) {
	params, err = h.checkObject(ctx, &token, client)
	if err != nil {
		return nil, peekObject(token), err
	}
	return params, nil, nil
}

// peekObject reads the parameters of a compact JWS without verifying it,
// or returns nil.
func peekObject(token string) url.Values {
	segs := strings.Split(token, ".")
	if len(token) > maxObjectLen || len(segs) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(segs[1])
	if err != nil {
		return nil
	}
	v, _, err := ParseRequestObject(payload)
	if err != nil {
		return nil
	}
	return v
}

// checkObject is verifyObject's work; *tokenp becomes the inner JWS of an
// encrypted object once it is decrypted.
func (h *Handler) checkObject(ctx context.Context, tokenp *string, client directory.Client) (url.Values, error) {
	token := *tokenp
	if len(token) > maxObjectLen {
		return nil, objectError("request object too large")
	}
	hdr, parts, err := decodeHeader(token)
	if err != nil {
		return nil, objectError("request object: " + err.Error())
	}
	if parts == 5 {
		// RFC 9101 §6.1: encrypted to us, then signed inside (nested).
		if a := client.RequestObjectEncryptionAlg; a != "" && (hdr.Alg != a || hdr.Enc != client.RequestObjectEncryptionEnc) {
			return nil, objectError("request object encryption must be " + a + " / " + client.RequestObjectEncryptionEnc)
		}
		pt, _, err := h.req.Crypto.Decrypt(ctx, token)
		if err != nil {
			return nil, objectError("request object cannot be decrypted with our keys")
		}
		token = string(pt)
		*tokenp = token
		if hdr, parts, err = decodeHeader(token); err != nil || parts != 3 {
			return nil, objectError("the encrypted request object must hold a signed one")
		}
	}
	registered := client.RequestObjectSigningAlg
	var payload []byte
	switch {
	case client.FAPI2() && !slices.Contains(directory.FAPI2Algs, hdr.Alg):
		// FAPI 2.0 §5.4: PS256, ES256 or EdDSA; never none or RS256.
		return nil, objectError("FAPI 2.0: request objects must be signed with PS256, ES256 or EdDSA")
	case hdr.Alg == "none":
		// OIDC Core §6.1 and Dynamic Client Registration §2: a client
		// that pinned an alg must use it; one that pinned none, or
		// nothing, may send unsigned objects, unless the OP requires
		// signed ones (RFC 9101 §10.5). An unsigned object proves
		// nothing: its parameters count as query parameters would.
		switch {
		case h.req.RequireSigned:
			return nil, objectError("request objects must be signed")
		case registered != "none" && registered != "":
			return nil, objectError("request object must be signed with " + registered)
		}
		segs := strings.Split(token, ".")
		if segs[2] != "" {
			return nil, objectError("an unsigned request object has no signature")
		}
		if payload, err = base64.RawURLEncoding.DecodeString(segs[1]); err != nil {
			return nil, objectError("malformed request object")
		}
	case registered != "" && hdr.Alg != registered:
		return nil, objectError("request object must be signed with " + registered)
	default:
		jwks, err := h.req.Keys(ctx, client, hdr.Kid)
		if err != nil {
			return nil, objectError("the client's keys could not be retrieved")
		}
		var algs []string
		if registered != "" {
			algs = []string{registered}
		}
		if payload, _, _, err = h.req.Crypto.VerifyWithKeys(ctx, token, jwks, algs); err != nil {
			return nil, objectError("request object signature is not valid for the client's keys")
		}
	}
	params, claims, err := ParseRequestObject(payload)
	if err != nil {
		return nil, objectError(err.Error())
	}
	signed := hdr.Alg != "none"
	if err := h.checkObjectClaims(claims, client, signed); err != nil {
		return nil, err
	}
	// The jti of an unsigned object is not recorded: anyone could send
	// one with the jti of a signed object the client has yet to use, and
	// so spend it.
	if signed && claims.JTI != "" {
		if err := h.req.Store.UseRequestJTI(ctx, client.ID, claims.JTI, time.Unix(*claims.Exp, 0)); err != nil {
			if errors.Is(err, directory.ErrReplay) {
				return nil, objectError("request object was already used (jti)")
			}
			if errors.Is(err, directory.ErrInvalid) {
				return nil, objectError("request object jti is invalid")
			}
			return nil, err
		}
	}
	return params, nil
}

// checkObjectClaims applies RFC 9101 §4, §6.3 and OIDC Core §6.1: a
// signed object names the client as iss, us as aud, and carries exp; its
// client_id, when present, is the request's; it is within its time.
func (h *Handler) checkObjectClaims(c ObjectClaims, client directory.Client, signed bool) error {
	now := h.cfg.Now()
	if c.ClientID != "" && c.ClientID != client.ID {
		return objectError("client_id in the request object does not match the request")
	}
	if signed || c.Issuer != "" {
		if c.Issuer != client.ID {
			return objectError("request object iss must be the client_id")
		}
	}
	if signed || len(c.Audience) > 0 {
		// RFC 9101 §4: aud is the issuer. Only that one audience (a
		// string, or a list of just it): OIDC Core §6.1 lets aud
		// "include" the issuer, but an object also addressed to another
		// server could be replayed from one to the other.
		if len(c.Audience) != 1 || c.Audience[0] != h.cfg.Issuer {
			return objectError("request object aud must be this OP's issuer, and only it")
		}
	}
	if c.Exp == nil {
		// An unsigned object's jti is not recorded (checkObject), so
		// it needs no exp to bound how long it is kept.
		if signed {
			return objectError("request object needs exp")
		}
	} else {
		exp := time.Unix(*c.Exp, 0)
		if !now.Before(exp.Add(objectLeeway)) {
			return objectError("request object has expired")
		}
		if exp.Sub(now) > MaxObjectLifetime {
			return objectError(fmt.Sprintf("request object exp is more than %s ahead", MaxObjectLifetime))
		}
	}
	if c.Nbf != nil && now.Add(objectLeeway).Before(time.Unix(*c.Nbf, 0)) {
		return objectError("request object is not yet valid (nbf)")
	}
	return nil
}

// ObjectClaims are the registered JWT claims of a request object.
type ObjectClaims struct {
	Issuer   string
	Audience []string
	Exp, Nbf *int64
	JTI      string
	ClientID string
}

// jwtClaims are the names that are JWT claims, not request parameters.
var jwtClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti", "sub"}

// ParseRequestObject reads the JSON payload of a request object into
// authorization request parameters and its JWT claims. String members are
// taken as they are, numbers in their JSON form, booleans as
// true/false, and objects (claims) as compact JSON. request and
// request_uri inside an object are refused (RFC 9101 §4), as are members
// of a type no parameter has, and anything that is not one JSON object.
func ParseRequestObject(payload []byte) (url.Values, ObjectClaims, error) {
	var c ObjectClaims
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, c, errors.New("request object payload is not a JSON object")
	}
	out := url.Values{}
	for k, raw := range m {
		var err error
		switch k {
		case "request", "request_uri":
			return nil, c, errors.New("a request object must not contain " + k)
		case "iss":
			err = json.Unmarshal(raw, &c.Issuer)
		case "jti":
			err = json.Unmarshal(raw, &c.JTI)
		case "aud":
			var one string
			if json.Unmarshal(raw, &one) == nil {
				c.Audience = []string{one}
			} else {
				err = json.Unmarshal(raw, &c.Audience)
			}
		case "exp", "nbf":
			var f float64
			if err = json.Unmarshal(raw, &f); err == nil {
				if f < 0 || f > 1e11 {
					err = errors.New("out of range")
				}
				n := int64(f)
				if k == "exp" {
					c.Exp = &n
				} else {
					c.Nbf = &n
				}
			}
		}
		if err != nil {
			return nil, c, errors.New("request object claim " + clipName(k) + " has the wrong type")
		}
		if slices.Contains(jwtClaims, k) {
			continue
		}
		if k == "resource" && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
			// RFC 8707 §2: several resources, an array in a request object.
			var list []string
			if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
				return nil, c, errors.New("request object member resource has the wrong type")
			}
			out[k] = list
			continue
		}
		v, err := paramValue(raw)
		if err != nil {
			return nil, c, errors.New("request object member " + clipName(k) + " has the wrong type")
		}
		if k == "client_id" {
			c.ClientID = v
		}
		out.Set(k, v)
	}
	return out, c, nil
}

// paramValue renders one JSON member as a request parameter value.
func paramValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("empty")
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '{':
		var buf bytes.Buffer
		err := json.Compact(&buf, raw)
		return buf.String(), err
	case 't', 'f':
		var b bool
		err := json.Unmarshal(raw, &b)
		return fmt.Sprint(b), err
	case '[', 'n':
		return "", errors.New("not a parameter value")
	default:
		var n json.Number
		err := json.Unmarshal(raw, &n)
		return n.String(), err
	}
}

func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// par is the pushed authorization request endpoint (RFC 9126 §2): the
// client authenticates, the request is validated as /authorize would,
// stored for PushedTTL, and answered with its request_uri.
func (h *Handler) par(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	form, err := params(r)
	if err != nil {
		return oauth2.Write(c, h.logger, oauth2.ErrInvalidRequest.WithDescription(err.Error()))
	}
	client, err := h.req.ClientAuth.Authenticate(r, form)
	if err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	if form.Has("request_uri") {
		// RFC 9126 §2.1: a pushed request cannot itself refer elsewhere.
		return oauth2.Write(c, h.logger, oauth2.ErrInvalidRequest.WithDescription("request_uri is not allowed at the PAR endpoint"))
	}
	for _, k := range []string{"client_secret", "client_assertion", "client_assertion_type"} {
		form.Del(k)
	}
	form.Set("client_id", client.ID)
	if form.Has("request") {
		obj, _, err := h.verifyObject(ctx, form.Get("request"), client)
		if err == nil {
			// RFC 9126 §3: with a request object, the authorization
			// parameters are the object's (RFC 9101 §5).
			form, err = mergeObject(form, obj)
		}
		if err != nil {
			return oauth2.Write(c, h.logger, err)
		}
		form.Set("client_id", client.ID)
	}
	if ru := form.Get("redirect_uri"); ru == "" || !directory.MatchRedirectURI(client.RedirectURIs, ru) {
		return oauth2.Write(c, h.logger, oauth2.ErrInvalidRequest.WithDescription("redirect_uri is not registered for this client"))
	}
	if !h.supportedMode(form.Get("response_mode")) {
		return oauth2.Write(c, h.logger, oauth2.ErrInvalidRequest.WithDescription("unsupported response_mode"))
	}
	if err := h.parProof(c, form); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	// Validate now what /authorize would refuse later (RFC 9126 §2.1).
	if _, err := h.parse(ctx, form, client); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	uri, err := h.req.Store.PushRequest(ctx, client.ID, form, h.req.PushedTTL)
	if err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": int(h.req.PushedTTL.Seconds())})
}
