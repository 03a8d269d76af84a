package crypto

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/go-jose/go-jose/v4"

	"authrim/actors/keymanager"
	"authrim/actors/messages"
)

// BenchmarkSign compares one JWS signature made three ways, so the actor
// hop's cost is known: go-jose called directly (the floor), the node's key
// cache called inline (the seed's "key cache in the Worker"), and a
// request to the node-local Crypto pool (our default path).
func BenchmarkSign(b *testing.B) {
	kek := testKEK(b)
	payload := []byte(`{"iss":"http://localhost:8080","sub":"248289761001","aud":"client","exp":1893456000,"iat":1700000000}`)
	for _, alg := range []string{"ES256", "RS256"} {
		k := newTestKey(b, kek, alg, keymanager.StatusActive)
		cache := NewCache(kek)
		if err := cache.Apply(&messages.KeySet{Version: 1, Keys: []*messages.Key{k.rec}}); err != nil {
			b.Fatal(err)
		}
		system := actor.NewActorSystem()
		pid, err := Spawn(system.Root, cache, Options{TTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		direct, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: k.priv, KeyID: k.rec.Kid}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg+"/direct", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				obj, err := direct.Sign(payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := obj.CompactSerialize(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/cache-inline", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := cache.Sign(alg, payload, "JWT"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/pool", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := system.Root.RequestFuture(pid, &messages.SignRequest{Alg: alg, Payload: payload, Typ: "JWT"}, 5*time.Second).Result()
				if err != nil || res.(*messages.SignResponse).Error != nil {
					b.Fatal(err, res)
				}
			}
		})
		b.Run(alg+"/pool-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := system.Root.RequestFuture(pid, &messages.SignRequest{Alg: alg, Payload: payload, Typ: "JWT"}, 5*time.Second).Result()
					if err != nil || res.(*messages.SignResponse).Error != nil {
						b.Fatal(err, res)
					}
				}
			})
		})
		b.Run(alg+"/direct-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					obj, err := direct.Sign(payload)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := obj.CompactSerialize(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		system.Shutdown()
	}
}
