// Package version names the protocol versions sessring nodes speak. ...
package version

const (
	V1  = 1  // the formats of the first release (no version fields on the wire)
	V2  = 2  // formats introduced after the first release
	Min = V1 // oldest version this build speaks
	Max = V2 // newest version this build speaks
)
