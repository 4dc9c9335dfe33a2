package store

import (
	"bytes"
	"testing"

	"github.com/e5b1d45c/sessring/internal/version"
)

// TestBackupFormatFollowsClusterVersion: a V1 cluster writes the first
// release's value (which older builds read); once every member speaks V2
// the token is left out of the value. Both decode, for the right token
// only where the value names one.
func TestBackupFormatFollowsClusterVersion(t *testing.T) {
	const tok = "a-token-that-must-not-be-stored"
	e := &entry{kind: KindBytes, version: 5, value: []byte("session"), access: 1}
	for _, tc := range []struct {
		version   int
		format    byte
		withToken bool
	}{
		{version.V1, entryFormat, true},
		{version.V2, entryFormatNoToken, false},
	} {
		f := backupFormat(tc.version)
		if f != tc.format {
			t.Errorf("backupFormat(V%d) = %d, want %d", tc.version, f, tc.format)
		}
		b := marshalEntry(tok, e, f)
		if got := bytes.Contains(b, []byte(tok)); got != tc.withToken {
			t.Errorf("format %d value contains the token = %v, want %v", f, got, tc.withToken)
		}
		got, err := unmarshalEntry(tok, b)
		if err != nil || !bytes.Equal(got.value, e.value) || got.version != e.version {
			t.Errorf("unmarshalEntry(format %d) = %+v, %v; want version %d value %q", f, got, err, e.version, e.value)
		}
		if _, err := unmarshalEntry("another-token", b); (err != nil) != tc.withToken {
			t.Errorf("unmarshalEntry(format %d) for another token: error = %v, want error=%v", f, err, tc.withToken)
		}
	}
}
