package backup_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/e5b1d45c/sessring/backup"
)

// A backup on two memcached nodes with a spare, encrypted with the cluster
// key. (Not run: it needs memcached on these addresses.)
func ExampleNew() {
	clusterKey := []byte("32-byte cluster key from secrets") // 32 bytes
	b, err := backup.New(backup.Config{
		Servers:   []string{"m1:10.0.0.1:11211", "m2:10.0.0.2:11211"},
		Failover:  []string{"spare:10.0.0.9:11211"},
		SecretKey: clusterKey,
		Timeout:   500 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ctx := context.Background()
	if err := b.Put(ctx, "session-token", []byte("user=42"), time.Now().Add(45*24*time.Hour)); err != nil {
		log.Print(err) // the store retries write-behind backups
	}
	data, found, err := b.Get(ctx, "session-token")
	switch {
	case errors.Is(err, backup.ErrUnavailable):
		log.Print("memcached down: ", err)
	case err != nil:
		log.Print(err) // e.g. ErrCorrupt: written with another key
	case found:
		fmt.Printf("%s\n", data)
	}
}

func ExampleConfig_Validate() {
	cfg := backup.DefaultConfig()
	fmt.Println(cfg.Validate())

	cfg.Servers = []string{"m1:10.0.0.1:11211", "10.0.0.2:11211"}
	cfg.SecretKey = []byte("too short")
	fmt.Println(cfg.Validate())

	cfg.SecretKey = make([]byte, 32)
	fmt.Println(cfg.Validate())
	// Output:
	// backup: invalid config: Servers is empty; give at least one "host:port"
	// backup: invalid config: SecretKey is 9 bytes, want 16, 24 or 32
	// <nil>
}
