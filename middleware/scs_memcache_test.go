package middleware_test

import (
	"errors"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/bradfitz/gomemcache/memcache"
)

// memcacheStore is an scs.Store over memcached (gomemcache): what scs users
// deploy to share sessions between replicas.
type memcacheStore struct {
	c *memcache.Client
}

var _ scs.Store = (*memcacheStore)(nil)

func newMemcacheStore(addr string) *memcacheStore {
	c := memcache.New(addr)
	c.MaxIdleConns = 4 * benchUsers // the default (2) would reconnect under load
	c.Timeout = 2 * time.Second     // the middleware's StoreTimeout, not gomemcache's 500ms
	return &memcacheStore{c: c}
}

func memcacheKey(token string) string { return "scs:" + token }

// Find implements scs.Store.
func (s *memcacheStore) Find(token string) ([]byte, bool, error) {
	it, err := s.c.Get(memcacheKey(token))
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return it.Value, true, nil
}

// Commit implements scs.Store. memcached reads a relative TTL over 30 days
// as an absolute Unix time, so longer lifetimes are sent as one.
func (s *memcacheStore) Commit(token string, b []byte, expiry time.Time) error {
	ttl := int32(time.Until(expiry).Seconds())
	if ttl <= 0 {
		return s.Delete(token)
	}
	if ttl > 30*24*3600 {
		ttl = int32(expiry.Unix())
	}
	return s.c.Set(&memcache.Item{Key: memcacheKey(token), Value: b, Expiration: ttl})
}

// Delete implements scs.Store.
func (s *memcacheStore) Delete(token string) error {
	if err := s.c.Delete(memcacheKey(token)); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return err
	}
	return nil
}
