package crypto

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"authrim/actors/keymanager"
	"authrim/actors/messages"
)

// BenchmarkVerify is the access-token check of userinfo and
// introspection: one compact JWS verified with the cached public key,
// inline and through the node-local Crypto pool (the default path).
func BenchmarkVerify(b *testing.B) {
	kek := testKEK(b)
	payload := []byte(`{"iss":"http://localhost:8080","sub":"248289761001","aud":"http://localhost:8080","client_id":"rp","exp":1893456000,"iat":1700000000,"jti":"x","scope":"openid profile","sid":"s","gid":"g"}`)
	for _, alg := range []string{"ES256", "RS256"} {
		k := newTestKey(b, kek, alg, keymanager.StatusActive)
		cache := NewCache(kek)
		if err := cache.Apply(&messages.KeySet{Version: 1, Keys: []*messages.Key{k.rec}}); err != nil {
			b.Fatal(err)
		}
		tok, _, err := cache.Sign(alg, payload, "at+jwt")
		if err != nil {
			b.Fatal(err)
		}
		system := actor.NewActorSystem()
		pid, err := Spawn(system.Root, cache, Options{TTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		algs := []string{alg}
		b.Run(alg+"/cache-inline", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := cache.VerifyType(tok, "at+jwt", algs); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/pool", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := system.Root.RequestFuture(pid, &messages.VerifyRequest{Token: tok, Typ: "at+jwt", Algs: algs}, 5*time.Second).Result()
				if err != nil || res.(*messages.VerifyResponse).Error != nil {
					b.Fatal(err, res)
				}
			}
		})
		b.Run(alg+"/pool-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := system.Root.RequestFuture(pid, &messages.VerifyRequest{Token: tok, Typ: "at+jwt", Algs: algs}, 5*time.Second).Result()
					if err != nil || res.(*messages.VerifyResponse).Error != nil {
						b.Fatal(err, res)
					}
				}
			})
		})
		system.Shutdown()
	}
}
