package backup

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/e5b1d45c/sessring/internal/memcachedtest"
)

// sessionLike returns n bytes that compress like a typical session: JSON
// field names repeat, values are random.
func sessionLike(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < n {
		v := make([]byte, 8)
		for i := range v {
			v[i] = byte(r.Uint32())
		}
		fmt.Fprintf(&b, `{"attr":"cart.item","id":"%s","qty":%d},`, hex.EncodeToString(v), r.IntN(9))
	}
	return []byte(b.String()[:n])
}

type benchVariant struct {
	name string
	cfg  Config // Servers filled in by the benchmark
}

var benchVariants = []benchVariant{
	{"plain", Config{CompressAbove: -1}},
	{"compressed", Config{CompressAbove: 512}},
	{"encrypted", Config{CompressAbove: -1, SecretKey: testSecret}},
	{"encrypted+compressed", Config{CompressAbove: 512, SecretKey: testSecret}},
}

// BenchmarkPut and BenchmarkGet compare our calls against raw gomemcache
// Set/Get on the same memcached; each variant reports its cost relative to
// raw as the x-raw metric.
func BenchmarkPut(b *testing.B) { benchOps(b, true) }
func BenchmarkGet(b *testing.B) { benchOps(b, false) }

func benchOps(b *testing.B, put bool) {
	srv := memcachedtest.Start(b)
	for _, size := range []int{1 << 10, 16 << 10} {
		data := sessionLike(size)
		var rawNs float64
		b.Run(fmt.Sprintf("%dKiB/raw", size>>10), func(b *testing.B) {
			rawNs = benchRaw(b, srv.Addr, data, put)
		})
		for _, v := range benchVariants {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, v.name), func(b *testing.B) {
				ns := benchBackup(b, srv.Addr, v.cfg, data, put)
				if rawNs > 0 {
					b.ReportMetric(ns/rawNs, "x-raw")
				}
			})
		}
	}
}

func benchRaw(b *testing.B, addr string, data []byte, put bool) float64 {
	c := memcache.New(addr)
	defer c.Close()
	item := &memcache.Item{Key: "raw:" + strings.Repeat("k", 43), Value: data, Expiration: 3600}
	if err := c.Set(item); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	start := time.Now()
	for b.Loop() {
		var err error
		if put {
			err = c.Set(item)
		} else {
			_, err = c.Get(item.Key)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(b.N)
}

func benchBackup(b *testing.B, addr string, cfg Config, data []byte, put bool) float64 {
	cfg.Servers = []string{addr}
	m := newBackup(b, cfg)
	ctx := context.Background()
	expiry := time.Now().Add(time.Hour)
	if err := m.Put(ctx, "bench-token", data, expiry); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	start := time.Now()
	for b.Loop() {
		var err error
		if put {
			err = m.Put(ctx, "bench-token", data, expiry)
		} else {
			_, _, err = m.Get(ctx, "bench-token")
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	if raw, _ := rawGet(b, addr, m.codec.Load().storageKey("bench-token")); len(raw) > 0 {
		b.ReportMetric(float64(len(raw)), "stored-B")
	}
	return ns
}

// BenchmarkCodec measures encoding and decoding alone, without memcached.
func BenchmarkCodec(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10} {
		data := sessionLike(size)
		for _, v := range benchVariants {
			c, err := newCodec(v.cfg.withDefaults())
			if err != nil {
				b.Fatal(err)
			}
			key := c.storageKey("bench-token")
			enc, err := c.encode(key, data)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dKiB/%s/encode", size>>10, v.name), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := c.encode(key, data); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%dKiB/%s/decode", size>>10, v.name), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := c.decode(key, enc); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
