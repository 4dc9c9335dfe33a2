package store_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/e5b1d45c/sessring/store"
)

// Two app server processes would each run one of these nodes; here both
// live in one process, on loopback ports picked by the system. The second
// joins through the first one's GossipAddr, and a session committed on one
// is found on the other.
func Example() {
	key := make([]byte, 32)
	rand.Read(key)
	open := func(name string, join ...string) *store.Node {
		cfg := store.DefaultConfig()
		cfg.Name = name
		cfg.BindAddr = "127.0.0.1:0"
		cfg.SecretKey = key // the same random key on every node
		cfg.Join = join
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		n, err := store.Open(cfg)
		if err != nil {
			panic(err)
		}
		return n
	}
	a := open("app-1")
	defer a.Close()
	b := open("app-2", a.GossipAddr())
	defer b.Close()

	tok, err := a.NewToken(false)
	if err != nil {
		panic(err)
	}
	if err := a.Commit(tok, []byte("cart: 3 items"), time.Now().Add(time.Hour)); err != nil {
		panic(err)
	}
	v, found, err := b.Find(tok)
	fmt.Printf("%s %v %v\n", v, found, err)
	fmt.Println(len(b.Members()), "members")
	// Output:
	// cart: 3 items true <nil>
	// 2 members
}
