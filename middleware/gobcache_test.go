package middleware

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"
)

type withInterface struct {
	Name  string
	Extra any
}

func init() {
	gob.Register(withInterface{})
	gob.Register(map[string]any{})
}

// gobSamples are values of several shapes for the reuse tests: the i-th of
// each differs from the others.
func gobSamples(i int) []any {
	at := time.Unix(int64(i), 0).UTC()
	return []any{
		profile{Name: fmt.Sprint("u", i), Roles: []string{"r", fmt.Sprint(i)}},
		goldenPoint{X: i, Y: -i, At: &at},
		[]string{fmt.Sprint(i)},
		map[string]int{"sku": i},
		[]goldenPoint{{X: i}},
		map[string][]int{"k": {i, i + 1}},
		withInterface{Name: "w", Extra: i},                 // holds an interface: never reused
		map[string]any{"n": i, "p": profile{Name: "nest"}}, // nested definitions inside the value
	}
}

// TestGobStreamsWriteFreshEncoderBytes checks that reused encoders write the
// bytes a fresh gob encoder writes (the format of every earlier build), and
// that a fresh gob decoder reads them.
func TestGobStreamsWriteFreshEncoderBytes(t *testing.T) {
	g := &gobStreams{decoders: map[string]*sync.Pool{}}
	for i := range 20 {
		for _, v := range gobSamples(i) {
			if m, ok := v.(map[string]any); ok && len(m) > 1 {
				continue // map order makes two encodings differ; see the decode test
			}
			got, err := g.encode(nil, v)
			if err != nil {
				t.Fatalf("encode(%#v): %v", v, err)
			}
			want, err := freshEncode(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode(%T) round %d = %x, want the fresh encoder's %x", v, i, got, want)
			}
			back, err := freshDecode(got)
			if err != nil || !sameValue(back, v) {
				t.Fatalf("fresh decode of %T = %#v, %v; want %#v", v, back, err, v)
			}
		}
	}
}

// TestGobStreamsReuseDecoders decodes streams of fresh encoders with reused
// decoders, concurrently, and checks every value and its exact type.
func TestGobStreamsReuseDecoders(t *testing.T) {
	g := &gobStreams{decoders: map[string]*sync.Pool{}}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				for _, v := range gobSamples(w*1000 + i) {
					b, err := freshEncode(nil, v)
					if err != nil {
						errs <- err
						return
					}
					got, err := g.decode(b)
					if err != nil || !sameValue(got, v) {
						errs <- fmt.Errorf("decode(%T #%d) = %#v (%T), %v; want %#v", v, i, got, got, err, v)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	reused := 0
	for _, p := range g.decoders {
		if p != nil {
			reused++
		}
	}
	if reused < 5 {
		t.Errorf("%d runs of definitions reuse decoders, want at least 5 (one per interface-free sample type)", reused)
	}
}

// TestGobStreamsRejectCorruptStreams feeds damaged streams to a decoder
// cache that has reused decoders for their type.
func TestGobStreamsRejectCorruptStreams(t *testing.T) {
	g := &gobStreams{decoders: map[string]*sync.Pool{}}
	good, _ := freshEncode(nil, profile{Name: "x", Roles: []string{"a"}})
	for range 2 {
		if _, err := g.decode(good); err != nil {
			t.Fatal(err)
		}
	}
	for cut := 1; cut < len(good); cut++ {
		if v, err := g.decode(good[:cut]); err == nil {
			t.Errorf("decode of the first %d of %d bytes = %#v, want an error", cut, len(good), v)
		}
	}
	bad := bytes.Clone(good)
	bad[len(bad)-3] ^= 0x40
	if v, err := g.decode(bad); err == nil && reflect.DeepEqual(v, profile{Name: "x", Roles: []string{"a"}}) {
		t.Errorf("decode of a damaged stream = %#v, the undamaged value", v)
	}
	if v, err := g.decode(good); err != nil || !reflect.DeepEqual(v, profile{Name: "x", Roles: []string{"a"}}) {
		t.Errorf("decode after damaged streams = %#v, %v", v, err)
	}
}

func TestGobUint(t *testing.T) {
	for _, x := range []uint64{0, 1, 127, 128, 255, 256, 1 << 20, 1<<63 + 5} {
		b := appendGobUint(nil, x)
		var buf bytes.Buffer
		gob.NewEncoder(&buf).Encode(x) // count, type id, then x as gob writes it
		if got, w := gobUint(b); got != x || w != len(b) {
			t.Errorf("gobUint(appendGobUint(%d)) = %d, %d; want %d, %d", x, got, w, x, len(b))
		}
		if !bytes.HasSuffix(buf.Bytes(), b) {
			t.Errorf("appendGobUint(%d) = %x, not the tail of gob's %x", x, b, buf.Bytes())
		}
	}
}

func BenchmarkDefaultCodecMap(b *testing.B) {
	v := map[string]int{"sku-0": 3, "sku-1": 2, "sku-2": 5}
	raw, _ := DefaultCodec{}.Encode(v)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			DefaultCodec{}.Encode(v)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			DefaultCodec{}.Decode(raw)
		}
	})
	b.Run("fresh encode", func(b *testing.B) {
		for b.Loop() {
			freshEncode([]byte{tagGob}, v)
		}
	})
	b.Run("fresh decode", func(b *testing.B) {
		for b.Loop() {
			freshDecode(raw[1:])
		}
	})
}

// TestGobStreamsConcurrentEncode encodes values of one type from several
// goroutines, on fresh caches so that encoders are pooled and picked up by
// another goroutine often: each result must be the fresh encoder's bytes,
// and under -race no pooled encoder may be used by two at once.
func TestGobStreamsConcurrentEncode(t *testing.T) {
	errs := make(chan error, 4)
	for round := range 100 {
		g := &gobStreams{decoders: map[string]*sync.Pool{}}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 5 {
					v := profile{Name: fmt.Sprint(round, "-", w, "-", i), Roles: []string{"r"}}
					got, err := g.encode([]byte{tagGob}, v)
					if err == nil {
						want, _ := freshEncode([]byte{tagGob}, v)
						if !bytes.Equal(got, want) {
							err = fmt.Errorf("encode(%v) = %x, want %x", v, got, want)
						}
					}
					if err != nil {
						errs <- err
						return
					}
					runtime.Gosched()
				}
			})
		}
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
}
