package clustertest

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// deviceAcrossNodes runs a device authorization (RFC 8628) whose steps
// land on different nodes: the device asks node 1, the user (browser b,
// signed in already) approves on node 2, and the device polls node 3 and
// node 1 at once after the approval: the Device grain is one per device
// code in the cluster, so exactly one poll gets tokens.
func deviceAcrossNodes(t *testing.T, tc *testCluster, b *http.Client) {
	t.Helper()
	n1, n2, n3 := tc.members[0], tc.members[1], tc.members[2]
	req, _ := http.NewRequest("POST", n1.url()+"/device_authorization", strings.NewReader(url.Values{"scope": {"openid profile email"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("rp", rpSecret)
	st, da, err := doJSON(req)
	if err != nil || st != http.StatusOK {
		t.Fatalf("device_authorization on node1: %d %v %v", st, da, err)
	}
	deviceCode, userCode := da["device_code"].(string), da["user_code"].(string)

	// The user enters the code on node 2.
	get, _ := http.NewRequest("GET", n2.url()+"/device?user_code="+url.QueryEscape(userCode), nil)
	p, err := do(b, get)
	if err != nil || p.status != http.StatusOK || !strings.Contains(p.body, `name="user_code"`) {
		t.Fatalf("device page on node2: %d %v %s", p.status, err, p.body)
	}
	post := func(body string) page {
		t.Helper()
		f := url.Values{}
		for _, m := range inputRE.FindAllStringSubmatch(body, -1) {
			f.Set(m[1], html.UnescapeString(m[2]))
		}
		f.Set("user_code", userCode)
		if strings.Contains(body, `name="decision"`) {
			f.Set("decision", "approve")
		}
		req, _ := http.NewRequest("POST", n2.url()+"/device", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p, err := do(b, req)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	confirm := post(p.body)
	if !strings.Contains(confirm.body, `name="decision"`) {
		t.Fatalf("no confirmation on node2: %d %s", confirm.status, confirm.body)
	}
	if done := post(confirm.body); done.status != http.StatusOK || !strings.Contains(done.body, "You approved") {
		t.Fatalf("approval on node2: %d %s", done.status, done.body)
	}

	// Two polls at once on two other nodes: one redemption.
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	bodies := make([]map[string]any, 2)
	for i, m := range []*member{n3, n1} {
		wg.Go(func() { codes[i], bodies[i], _ = tokenReq(context.Background(), m, poll) })
	}
	wg.Wait()
	winner := slices.Index(codes, http.StatusOK)
	if winner < 0 || codes[1-winner] != http.StatusBadRequest || bodies[1-winner]["error"] != "invalid_grant" {
		t.Fatalf("concurrent polls after approval answered %v %v, want one 200 and one invalid_grant", codes, bodies)
	}
	if st, info, err := userinfo(n2, bodies[winner]["access_token"].(string)); err != nil || st != http.StatusOK || info["email"] != "alice@example.com" {
		t.Fatalf("userinfo of the device's token on node2: %d %v %v", st, info, err)
	}
}
