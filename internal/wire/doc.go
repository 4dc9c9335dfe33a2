// Package wire is the compact binary encoding of sessring's peer messages.
//
// # Encoding
//
// Messages are built with an append-style Encoder (unsigned and signed
// varints, length-prefixed bytes and strings) and read back with a Decoder
// that checks every length against what is left of the input and against a
// caller-set limit, so a hostile or truncated frame costs at most its own size
// and yields an error wrapping ErrMalformed, never a panic.
//
// # Errors
//
// The Decoder's error is sticky: after the first failure every read returns a
// zero value, and Err reports the first failure. Callers decode a whole
// message and check Err once.
package wire
