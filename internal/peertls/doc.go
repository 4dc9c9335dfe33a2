// Package peertls builds the mutual-TLS configuration that sessring nodes use
// for peer traffic when the cluster is configured with a shared SecretKey
// instead of its own PKI.
//
// # Why derive a certificate
//
// Go's crypto/tls has no pre-shared-key mode, and asking every operator to run
// a certificate authority just to join app servers into a cluster is the kind
// of setup step people skip. So every node derives the same Ed25519 key pair
// from the shared secret and presents a self-signed certificate for it:
//
//	seed := HKDF-SHA256(secret, info "sessring peer tls v1")
//	priv := ed25519.NewKeyFromSeed(seed)
//	cert := self-signed x509 certificate for priv.Public()
//
// Knowing the secret is what lets a node prove possession of the private key
// during the TLS handshake; nothing else about the certificate matters.
//
// # What is verified
//
// Both ends present the derived certificate and both ends require the peer's
// leaf certificate to carry exactly the derived public key (key pinning in
// tls.Config.VerifyConnection, which also runs on session resumption). Peers
// have no hostnames and the certificate has no issuer, so the usual chain and
// name checks are switched off and replaced by the pin; see FromSecret. A peer
// with a different secret, with some other certificate, with no certificate,
// or speaking plaintext fails the handshake. TLS 1.3 is the minimum version.
//
// # Key rotation
//
// FromSecret takes the current secret and any older ones. A node presents
// the certificate of the current secret and accepts peers presenting the
// certificate of any of them, so a key is rotated in three rolling steps
// without a moment in which two running nodes refuse each other: add the
// new secret as an older one everywhere; make it the current one everywhere
// (the old one becomes older); drop the old one.
//
// # Cluster name
//
// Two clusters configured with the same secret (a copied configuration, a
// staging and a production cluster) would accept each other's nodes.
// WithClusterName makes both ends of every connection offer the ALPN
// protocol "sessring/<name>" and require that it was agreed, so nodes of
// differently named clusters fail the handshake. It applies on top of a
// FromSecret configuration or of your own.
//
// # Using your own PKI instead
//
// Operators who have a PKI pass their own *tls.Config to the cluster and do
// not use this package. The secret, when used, must be 16, 24 or 32 random
// bytes; anything else, and a secret of only zero bytes, fails with
// ErrBadKey.
package peertls
