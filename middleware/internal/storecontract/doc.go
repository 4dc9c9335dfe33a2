// Package storecontract is the contract test suite of middleware.Store: the
// behaviour the middleware relies on, as its doc comment states it, checked
// against any implementation. middleware's tests run it against
// *store.Node (a three-node cluster) and against the in-memory twin
// middleware/internal/memstore, so the twin the unit tests use cannot drift
// from the real store.
//
// # Use
//
//	storecontract.Run(t, func(t *testing.T) storecontract.Subject {
//		return storecontract.Subject{Store: s, PutBytes: ...}
//	})
//
// Each case gets a fresh subject from the function and uses tokens minted
// by its NewToken, so cases may share one store.
package storecontract
