package clustertest

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authrim/examples/webhookreceiver"
	"authrim/internal/eventually"
)

// hookReceiver is a TLS webhook receiver (the example receiver) that
// refuses with 500 while failing is set, and records when each event
// was handled.
type hookReceiver struct {
	srv     *httptest.Server
	rx      *webhookreceiver.Receiver
	caFile  string
	failing atomic.Bool
	posts   atomic.Int32

	mu   sync.Mutex
	got  []webhookreceiver.Event
	when []time.Time
}

func startHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.rx = &webhookreceiver.Receiver{Handle: func(_ string, e webhookreceiver.Event) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.got, h.when = append(h.got, e), append(h.when, time.Now())
		return nil
	}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.posts.Add(1)
		if h.failing.Load() {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		h.rx.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	h.caFile = filepath.Join(t.TempDir(), "hook-ca.pem")
	if err := os.WriteFile(h.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// handled returns the usernames of the user-created events handled, and
// when.
func (h *hookReceiver) handled() ([]string, []time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var names []string
	for _, e := range h.got {
		names = append(names, e.Data.Attrs["username"])
	}
	return names, append([]time.Time(nil), h.when...)
}

// A webhook delivery outlives the member delivering it: the receiver
// refuses until the member running the Delivery grain is killed with
// SIGKILL mid-retry; another member takes over from the outbox in etcd
// and the receiver handles the event exactly once. The latency from an
// audited change to the receiver handling it is logged (three members).
func TestWebhookSurvivesKillOfDeliveringMember(t *testing.T) {
	h := startHookReceiver(t)
	tc := startWith(t, clusterOpts{nodes: 3, backend: "etcd", staticPeers: true,
		extraConfig: "requests:\n  fetch:\n    allow_private_addresses: true\n    ca_file: " + h.caFile + "\n" +
			"delivery:\n  retry_initial: 200ms\n  retry_max: 400ms\n  scan_interval: 1s\n",
	})
	entry := tc.members[0]
	out := tc.cli(entry, nil, "webhooks", "create", h.srv.URL+"/hook", "--events", "admin_user_created")
	h.rx.SetSecret(regexp.MustCompile(`whsec_\S+`).FindString(out))
	id := regexp.MustCompile(`id:\s+(wh_\S+)`).FindStringSubmatch(out)[1]

	// A willing receiver first: event-to-webhook latency on three members.
	for i, m := range tc.members {
		start := time.Now()
		tc.cli(m, strings.NewReader("a long enough password\n"), "users", "add", "--username", fmt.Sprintf("first%d", i), "--password-stdin")
		done := time.Now()
		eventually.True(t, "the receiver handles the event", func() bool { n, _ := h.handled(); return len(n) == i+1 })
		_, when := h.handled()
		// The event is logged between the two: the command's start (a
		// process, a request, a password hash) and its return.
		t.Logf("event-to-webhook latency (user created on %s, three members, grain on %s): under %v from the command's start, %v from its return",
			m.name, tc.status(entry).DeliveryNode, when[i].Sub(start).Round(time.Millisecond), when[i].Sub(done).Round(time.Millisecond))
	}

	h.failing.Store(true)
	posts := h.posts.Load()
	tc.cli(entry, strings.NewReader("a long enough password\n"), "users", "add", "--username", "during-failure", "--password-stdin")
	eventually.True(t, "the receiver refused a few attempts", func() bool { return h.posts.Load() >= posts+3 })
	host := tc.byName(tc.status(entry).DeliveryNode)
	tc.kill(host)
	survivor := tc.members[0]
	if survivor == host {
		survivor = tc.members[1]
	}
	h.failing.Store(false)
	eventually.True(t, "another member delivers the event and the outbox drains", func() bool {
		n, _ := h.handled()
		return len(n) == 4 && tc.status(survivor).OutboxPending == 0
	})
	names, _ := h.handled()
	if names[3] != "during-failure" {
		t.Fatalf("handled %v", names)
	}
	after := tc.status(survivor).DeliveryNode
	if after == host.name || after == "" {
		t.Fatalf("the Delivery grain is on %q after %s was killed", after, host.name)
	}
	// The history shows the refusals and the delivery, from any member.
	var hist struct {
		Deliveries []struct {
			OK     bool `json:"ok"`
			Status int  `json:"status"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(tc.cli(survivor, nil, "webhooks", "deliveries", id, "--json")), &hist); err != nil {
		t.Fatal(err)
	}
	refused, ok := 0, 0
	for _, d := range hist.Deliveries {
		if d.OK {
			ok++
		} else if d.Status == 500 {
			refused++
		}
	}
	if ok != 4 || refused < 3 {
		t.Fatalf("history: %d delivered, %d refused", ok, refused)
	}
	t.Logf("delivered by %s after %s was killed; %d posts in all", after, host.name, h.posts.Load())
}
