package middleware_test

import (
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/middleware/internal/memstore"
	"github.com/e5b1d45c/sessring/store"
)

// The real cluster node and the in-memory twin satisfy the middleware's
// seams. The check sits in the external test package: middleware imports
// store, so store cannot import middleware to hold the check itself.
var (
	_ middleware.Store          = (*store.Node)(nil)
	_ middleware.ExpiryNotifier = (*store.Node)(nil)
	_ middleware.Store          = (*memstore.Store)(nil)
	_ middleware.ExpiryNotifier = (*memstore.Store)(nil)
)
