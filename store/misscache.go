package store

import (
	"sync"
	"time"
)

// Bounds of the backup's negative cache: a miss is remembered briefly (a
// session written since is in memory, so the cache only saves lookups of
// tokens that do not exist), and at most missCacheSize tokens are, so a
// flood of distinct unknown tokens costs bounded memory.
const (
	missTTL       = time.Second
	missCacheSize = 8192
)

// missCache remembers tokens the backup recently did not have. The zero
// value is ready to use.
type missCache struct {
	mu   sync.Mutex // guards at, ring, next and gen
	at   map[string]time.Time
	ring []string // insertion order, for eviction of the oldest
	next int
	// gen counts forgets: a miss observed by a Get that started before a
	// write to the backup may be older than that write, and is not added.
	gen uint64
}

// generation returns the count of forgets so far; pass it to addSince.
func (c *missCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *missCache) has(token string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.at[token]
	return ok && now.Sub(t) < missTTL
}

// addSince records a miss seen by a Get that started at generation gen,
// unless some token was written to the backup since: that write may have
// been this token's, landing after the Get looked.
func (c *missCache) addSince(token string, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.addLocked(token, now)
	}
}

func (c *missCache) addLocked(token string, now time.Time) {
	if c.at == nil {
		c.at = make(map[string]time.Time, missCacheSize)
		c.ring = make([]string, missCacheSize)
	}
	if _, ok := c.at[token]; !ok {
		if old := c.ring[c.next]; old != "" {
			delete(c.at, old)
		}
		c.ring[c.next] = token
		c.next = (c.next + 1) % missCacheSize
	}
	c.at[token] = now
}

// forget drops token: it is being written to the backup.
func (c *missCache) forget(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if _, ok := c.at[token]; ok {
		c.at[token] = time.Time{}
	}
}
