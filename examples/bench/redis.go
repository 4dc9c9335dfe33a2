package main

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisBlobs stores session blobs in Redis with go-redis, the client most
// Go services use, so that the Redis rows measure what a team would run.
type redisBlobs struct {
	c       *redis.Client
	timeout time.Duration
}

func newRedisBlobs(addr string, conns int, timeout time.Duration) *redisBlobs {
	return &redisBlobs{
		c: redis.NewClient(&redis.Options{
			Addr:            addr,
			PoolSize:        conns,
			MaxIdleConns:    conns,
			DialTimeout:     timeout,
			ReadTimeout:     timeout,
			WriteTimeout:    timeout,
			DisableIdentity: true, // no CLIENT SETINFO round trip on each new connection
		}),
		timeout: timeout,
	}
}

// Get returns the value of key; found is false when the key is missing.
func (r *redisBlobs) Get(key string) ([]byte, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	v, err := r.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	return v, err == nil, err
}

// Set stores val under key for ttl (SET ... EX, at least one second).
func (r *redisBlobs) Set(key string, val []byte, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	return r.c.Set(ctx, key, val, max(time.Second, ttl.Truncate(time.Second))).Err()
}

// Close closes the connection pool.
func (r *redisBlobs) Close() { r.c.Close() }
