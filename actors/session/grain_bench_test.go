package session_test

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/cluster"
	"authrim/directory"
	"authrim/persistence/bbolt"
)

// codesPerSession: a browser session holds a few codes at a time. Every
// call clones and re-encodes the whole state, so more codes per session
// would measure the state's size rather than the redemption.
const codesPerSession = 4

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parallel runs f b.N times on 16 goroutines (the store's group commit
// fills up as under load) and reports process CPU per call: wall time
// per call mostly measures the 1 ms group-commit window.
func parallel(b *testing.B, f func(i int)) {
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	start := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f(int(next.Add(1) - 1))
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// seedSessions writes n signed-in sessions, each with one refresh family.
func seedSessions(b *testing.B, g *grains, n int) []session.Seed {
	b.Helper()
	now := time.Now()
	seeds := make([]session.Seed, n)
	for i := range seeds {
		s, _ := testSeed(now)
		key, value, err := session.Seeded(s)
		if err != nil {
			b.Fatal(err)
		}
		if err := g.store.Put(context.Background(), session.Bucket, key, value); err != nil {
			b.Fatal(err)
		}
		seeds[i] = s
	}
	return seeds
}

type code struct{ sid, secret string }

// issueCodes issues n codes for client "rp", spread over sessions.
func issueCodes(b *testing.B, g *grains, n int) []code {
	b.Helper()
	seeds := seedSessions(b, g, (n+codesPerSession-1)/codesPerSession)
	sessions := g.node.Sessions()
	req := &messages.AuthRequest{ClientId: "rp", RedirectUri: "https://rp.example/cb", Scopes: []string{"openid", "profile"}, Nonce: "n", ResponseType: "code"}
	codes := make([]code, n)
	for i := range codes {
		s := seeds[i/codesPerSession]
		r, err := sessions.Issue(context.Background(), s.Sid, s.Secret, &messages.IssueCode{Request: req})
		if err != nil {
			b.Fatal(err)
		}
		sid, secret, err := session.SplitCode(r.Code)
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = code{sid, secret}
	}
	return codes
}

func redeem(b *testing.B, g *grains, c code) {
	_, err := g.node.Sessions().Redeem(context.Background(), c.sid, &messages.RedeemCode{
		CodeSecret: c.secret, ClientId: "rp", RedirectUri: "https://rp.example/cb", RefreshTtlMs: (720 * time.Hour).Milliseconds()})
	if err != nil {
		b.Error(err)
	}
}

// BenchmarkRedeemCode is one authorization code redeemed in its Session
// grain (the one-time check, a new grant and refresh family, the state
// persisted before the answer), called as the token endpoint does, by 16
// concurrent callers. nosync shows the grain's own cost; fsync adds the
// durable group commits.
func BenchmarkRedeemCode(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"nosync", true}, {"fsync", false}} {
		b.Run(mode.name, func(b *testing.B) {
			g := startGrains(b, mode.noSync)
			codes := issueCodes(b, g, b.N)
			parallel(b, func(i int) { redeem(b, g, codes[i]) })
		})
	}
}

// BenchmarkRefresh is one refresh-token rotation in its Session grain,
// by 16 concurrent callers on distinct families.
func BenchmarkRefresh(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"nosync", true}, {"fsync", false}} {
		b.Run(mode.name, func(b *testing.B) {
			g := startGrains(b, mode.noSync)
			const families = 1024
			seeds := seedSessions(b, g, families)
			tokens := make([]chan string, families)
			for i, s := range seeds {
				tokens[i] = make(chan string, 1)
				tokens[i] <- s.RefreshToken(s.Grants[0])
			}
			sessions := g.node.Sessions()
			parallel(b, func(i int) {
				k := i % families
				tok := <-tokens[k] // one rotation of a family at a time
				sid, gid, secret, _ := session.SplitRefresh(tok)
				r, err := sessions.Refresh(context.Background(), sid, &messages.RefreshGrant{
					GrantId: gid, TokenSecret: secret, ClientId: "rp"})
				if err != nil {
					b.Error(err)
					tokens[k] <- tok
					return
				}
				tokens[k] <- r.RefreshToken
			})
		})
	}
}

// BenchmarkSilentAuthorize is what the Session grain costs authorize
// with a live session and no page (prompt=none): a Get then an Issue, as
// before IssueWhen, against one conditional Issue. Durable writes off:
// both write once, so the difference is the grain's and the call's own.
func BenchmarkSilentAuthorize(b *testing.B) {
	req := &messages.AuthRequest{ClientId: "rp", RedirectUri: "https://rp.example/cb", Scopes: []string{"openid", "profile"},
		Nonce: "n", ResponseType: "code", MaxAge: -1}
	for _, variant := range []string{"get+issue", "issue-when"} {
		b.Run(variant, func(b *testing.B) {
			g := startGrains(b, true)
			seeds := seedSessions(b, g, 1000)
			sessions := g.node.Sessions()
			ctx := context.Background()
			parallel(b, func(i int) {
				s := seeds[i%len(seeds)]
				issue := &messages.IssueCode{Request: req}
				if variant == "get+issue" {
					r, err := sessions.Get(ctx, s.Sid, s.Secret, &messages.GetSession{ClientId: "rp"})
					if err != nil || r.Login == nil {
						b.Error("get", err)
						return
					}
				} else {
					issue.When = &messages.IssueWhen{RequiredAcr: s.Acr, Consent: req.Scopes}
				}
				r, err := sessions.Issue(ctx, s.Sid, s.Secret, issue)
				if err != nil || r.Code == "" {
					b.Error("issue", err)
				}
			})
		})
	}
}

// BenchmarkUserCheck is what the grain's user check (one directory read
// of the signed-in user) adds to the calls that make it: a silent
// authorization, a code redemption and a refresh, each without a
// directory and with one on the same bbolt store. Durable writes off.
func BenchmarkUserCheck(b *testing.B) {
	req := &messages.AuthRequest{ClientId: "rp", RedirectUri: "https://rp.example/cb", Scopes: []string{"openid", "profile"},
		Nonce: "n", ResponseType: "code", MaxAge: -1}
	for _, dir := range []string{"none", "directory"} {
		start := func(b *testing.B) (*cluster.Node, []session.Seed) {
			store, err := bbolt.Open(b.TempDir(), bbolt.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { store.Close() })
			subject := "sub-1"
			var subjects session.Subjects
			if dir == "directory" {
				d, err := directory.New(store, directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8 * 1024, Argon2Threads: 1})
				if err != nil {
					b.Fatal(err)
				}
				u, err := d.CreateUser(context.Background(), directory.NewUser{Username: "bench", Password: "a long enough password"})
				if err != nil {
					b.Fatal(err)
				}
				subject, subjects = u.Subject, d
			}
			n := startGrainsWith(b, store, subjects)
			now := time.Now()
			seeds := make([]session.Seed, 1024)
			for i := range seeds {
				s, _ := testSeed(now)
				s.Subject = subject
				key, value, err := session.Seeded(s)
				if err != nil {
					b.Fatal(err)
				}
				if err := store.Put(context.Background(), session.Bucket, key, value); err != nil {
					b.Fatal(err)
				}
				seeds[i] = s
			}
			return n, seeds
		}
		b.Run(dir+"/issue-when", func(b *testing.B) {
			n, seeds := start(b)
			parallel(b, func(i int) {
				s := seeds[i%len(seeds)]
				r, err := n.Sessions().Issue(context.Background(), s.Sid, s.Secret, &messages.IssueCode{
					Request: req, When: &messages.IssueWhen{RequiredAcr: s.Acr, Consent: req.Scopes}})
				if err != nil || r.Code == "" {
					b.Error("issue", err)
				}
			})
		})
		b.Run(dir+"/refresh", func(b *testing.B) {
			n, seeds := start(b)
			tokens := make([]chan string, len(seeds))
			for i, s := range seeds {
				tokens[i] = make(chan string, 1)
				tokens[i] <- s.RefreshToken(s.Grants[0])
			}
			parallel(b, func(i int) {
				k := i % len(seeds)
				tok := <-tokens[k]
				sid, gid, secret, _ := session.SplitRefresh(tok)
				r, err := n.Sessions().Refresh(context.Background(), sid, &messages.RefreshGrant{
					GrantId: gid, TokenSecret: secret, ClientId: "rp"})
				if err != nil {
					b.Error(err)
					tokens[k] <- tok
					return
				}
				tokens[k] <- r.RefreshToken
			})
		})
	}
}
